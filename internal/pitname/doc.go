// Package pitname renders a schedule's pitNameTemplate into the PiT name of one run.
package pitname
