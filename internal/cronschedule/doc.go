// Package cronschedule parses a schedule's cron expression and time zone and computes which runs are due.
package cronschedule
