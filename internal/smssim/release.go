package smssim

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// Release is a vCenter release the simulator can play; it decides which SMS API versions the SOAP
// binding accepts, whether and where the VI/JSON binding is served, and what AboutInfo reports.
type Release string

// The simulated vCenter releases.
const (
	Release67U3 Release = "6.7U3"
	Release70GA Release = "7.0GA"
	Release70U3 Release = "7.0U3"
	Release80GA Release = "8.0GA"
	Release80U1 Release = "8.0U1"
	Release80U2 Release = "8.0U2"
	Release80U3 Release = "8.0U3"

	// DefaultRelease is played when Config.Release is empty.
	DefaultRelease = Release80U3
)

// smsVersions are the SMS API versions (the string after "urn:sms/") in release order, as
// pyvmomi's _typeinfo_sms.py lists them: every version's parents are all the older ones.
var smsVersions = []string{
	"1.0", "2.0", "3.0", "4.0", "5.0", "6.5", "6.7", "6.7.1", "6.7.2", "6.8.7",
	"7.0.0.0", "7.0.0.1", "7.0.3.2", "8.0.0.0", "8.0.1.0", "8.0.2.0", "8.0.3.0",
}

// preferDetailsSince is the first SMS version whose QueryPointInTimeReplicaParam has preferDetails.
const preferDetailsSince = "7.0.0.1"

// releaseProfile is what one vCenter release speaks.
type releaseProfile struct {
	// newestSMS is the newest SMS version the release accepts; every older one is accepted too.
	newestSMS string
	// jsonReleases are the VI/JSON release path segments served; empty means no VI/JSON.
	jsonReleases []string
	// about is what ServiceContent.about reports.
	about vimtypes.AboutInfo
}

// profiles maps each release to its profile. Assumed, since no public source lists it whole:
//   - the newest SMS version per release follows REFERENCES.md (7.0U3 -> 7.0.3.2, 8.0 GA -> 8.0.0.0,
//     8.0U1 -> 8.0.1.0); 8.0U2 -> 8.0.2.0 and 8.0U3 -> 8.0.3.0 and 7.0 GA -> 7.0.0.0 (7.0.0.1, where preferDetails
//     arrives, assumed to ship with a 7.0 update) by the same pattern; 6.7U3 -> 6.7.2, the
//     newest version whose parents stop at the 6.7 vim25 versions (6.8.7 belongs to a later line);
//   - a release accepts every older SMS version, as VMODL version parents suggest;
//   - VI/JSON arrives with 8.0U1 and a newer release also serves the older release paths;
//   - build numbers are those of the releases' first (GA) builds.
var profiles = map[Release]releaseProfile{
	Release67U3: {newestSMS: "6.7.2", about: about("6.7.0", "14367737", "6.7.3")},
	Release70GA: {newestSMS: "7.0.0.0", about: about("7.0.0", "15952498", "7.0.0.0")},
	Release70U3: {newestSMS: "7.0.3.2", about: about("7.0.3", "18700403", "7.0.3.0")},
	Release80GA: {newestSMS: "8.0.0.0", about: about("8.0.0", "20519528", "8.0.0.0")},
	Release80U1: {newestSMS: "8.0.1.0", jsonReleases: []string{"8.0.1.0"}, about: about("8.0.1", "21560480", "8.0.1.0")},
	Release80U2: {newestSMS: "8.0.2.0", jsonReleases: []string{"8.0.1.0", "8.0.2.0"}, about: about("8.0.2", "22385739", "8.0.2.0")},
	Release80U3: {newestSMS: "8.0.3.0", jsonReleases: []string{"8.0.1.0", "8.0.2.0", "8.0.3.0"}, about: about("8.0.3", "24022515", "8.0.3.0")},
}

func about(version, build, apiVersion string) vimtypes.AboutInfo {
	return vimtypes.AboutInfo{
		Name:                  "VMware vCenter Server",
		FullName:              fmt.Sprintf("VMware vCenter Server %s build-%s", version, build),
		Vendor:                "VMware, Inc.",
		Version:               version,
		Build:                 build,
		OsType:                "linux-x64",
		ProductLineId:         "vpx",
		ApiType:               "VirtualCenter",
		ApiVersion:            apiVersion,
		LicenseProductName:    "VMware VirtualCenter Server",
		LicenseProductVersion: strings.SplitN(version, ".", 2)[0] + ".0",
	}
}

// Releases returns every release the simulator can play, oldest first.
func Releases() []Release {
	return []Release{Release67U3, Release70GA, Release70U3, Release80GA, Release80U1, Release80U2, Release80U3}
}

// profileOf returns the profile of r ("" means DefaultRelease).
func profileOf(r Release) (releaseProfile, error) {
	if r == "" {
		r = DefaultRelease
	}
	p, ok := profiles[r]
	if !ok {
		return releaseProfile{}, fmt.Errorf("release %q is not one of %v", r, Releases())
	}
	return p, nil
}

// acceptsSMS reports whether the release accepts SOAPAction "urn:sms/<v>". An empty version (the
// SOAPAction "urn:sms" or "urn:sms/") is accepted as the base version: a client that sends no version
// gets the oldest API, which is assumed, not observed.
func (p releaseProfile) acceptsSMS(v string) bool {
	if v == "" {
		return true
	}
	return slices.Contains(smsVersions, v) && compareVersions(v, p.newestSMS) <= 0
}

// acceptedSMS lists the SMS versions the release accepts, oldest first.
func (p releaseProfile) acceptedSMS() []string {
	var out []string
	for _, v := range smsVersions {
		if p.acceptsSMS(v) {
			out = append(out, v)
		}
	}
	return out
}

// servesJSON reports whether the VI/JSON release path segment is served.
func (p releaseProfile) servesJSON(release string) bool {
	return slices.Contains(p.jsonReleases, release)
}

// newerThanServed reports whether release is a release path newer than any the profile serves, on a
// profile that serves VI/JSON at all.
func (p releaseProfile) newerThanServed(release string) bool {
	if len(p.jsonReleases) == 0 || !releasePath.MatchString(release) {
		return false
	}
	return compareVersions(release, p.jsonReleases[len(p.jsonReleases)-1]) > 0
}

// releasePath is the form of a VI/JSON release path segment, e.g. 8.0.3.0.
var releasePath = regexp.MustCompile(`^[0-9]+(\.[0-9]+){3}$`)

// knowsPreferDetails reports whether a request of SMS version v may carry queryParam.preferDetails.
func knowsPreferDetails(v string) bool {
	return v == "" || compareVersions(v, preferDetailsSince) >= 0
}

// compareVersions compares dotted numeric versions ("7.0.3.2" < "8.0.0.0"); missing parts are 0.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Release returns the release this simulator plays.
func (s *Sim) Release() Release { return s.release }

// AcceptedSMSVersions returns the SMS versions the SOAP binding accepts, oldest first.
func (s *Sim) AcceptedSMSVersions() []string { return s.profile.acceptedSMS() }

// JSONReleases returns the VI/JSON release paths served (empty when the release has no VI/JSON).
func (s *Sim) JSONReleases() []string { return slices.Clone(s.profile.jsonReleases) }

// About returns the AboutInfo the simulated vCenter reports.
func (s *Sim) About() vimtypes.AboutInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	about := s.profile.about
	about.InstanceUuid = s.instance
	return about
}
