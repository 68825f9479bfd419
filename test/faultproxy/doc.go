// Package faultproxy is an HTTPS proxy for tests that sits between the operator and a vCenter (the SMS
// simulator): it counts requests and bytes per SMS or vim method and, by rule, kills the client, drops a
// response or delays it the moment the vCenter's answer passes through.
package faultproxy
