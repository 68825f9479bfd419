package sms

import (
	"errors"
	"fmt"
)

// ErrMalformedAnswer is returned (wrapped) for an answer that cannot be used: one missing what it must
// hold, or one that made govmomi's decoding panic. For a sync call it is no answer: the call may have
// started a task.
var ErrMalformedAnswer = errors.New("malformed answer")

// malformed is the ErrMalformedAnswer of an answer to method that lacks what.
func malformed(method, what string) error {
	return fmt.Errorf("%w: %s answered no %s", ErrMalformedAnswer, method, what)
}

// recoverAnswer turns a panic of the function it is deferred in into an ErrMalformedAnswer in *err.
// govmomi dereferences what an answer lacks (a ServiceContent without sessionManager, a Login answered
// with an empty body) and its XML decoder panics on some types (an xsi:type that is no group result):
// the client's calls run in goroutines without a recover, where a panic would end the manager.
func recoverAnswer(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w (decoding it panicked: %v)", ErrMalformedAnswer, r)
	}
}
