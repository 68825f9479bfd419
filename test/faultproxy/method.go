package faultproxy

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strings"
)

// methodOf names the vCenter method a request calls, for both bindings:
//   - SOAP (/sdk, /sms/sdk, ...): the local name of the first element inside the envelope's Body. The
//     SOAPAction header of SMS carries only the namespace and version ("urn:sms/8.0.3.0"), not the method.
//   - VI/JSON: the last segment of /sdk/vim25/{release}/{type}/{moId}/{method} (SMS adds /sms/ after the
//     release), e.g. SyncReplicationGroup_Task.
//
// Anything else is named by its HTTP method and path, e.g. "GET /sdk/vimServiceVersions.xml".
func methodOf(r *http.Request, body []byte) string {
	if strings.HasPrefix(r.URL.Path, "/sdk/vim25/") {
		return r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	if r.Method == http.MethodPost {
		if m := soapMethod(body); m != "" {
			return m
		}
	}
	return r.Method + " " + r.URL.Path
}

// soapMethod returns the local name of the first child of Envelope/Body, "" when body is no SOAP envelope.
func soapMethod(body []byte) string {
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth, inBody := 0, false
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && el.Name.Local != "Envelope":
				return ""
			case depth == 2 && el.Name.Local == "Body":
				inBody = true
			case depth == 3 && inBody:
				return el.Name.Local
			}
		case xml.EndElement:
			if depth == 2 {
				inBody = false
			}
			depth--
		}
	}
}
