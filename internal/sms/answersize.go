package sms

// How much of an answer the client reads. Whoever may create a VasaProvider chooses the url it reaches,
// so an answer's size is the server's choice: unbounded, one answer could take the manager's memory.

import (
	"fmt"
	"io"
)

const (
	// maxAnswerBytes bounds every answer but a listing of every group. The largest others are about the
	// groups of one run (at most 1,000): on the simulator, with every id at the API's 255 characters, a
	// QueryReplicationGroup of 1,000 groups weighs 2.2 MiB, a QuerySmsTaskInfo of their sync 0.8 MiB.
	maxAnswerBytes = 8 << 20
	// maxListingBytes bounds the answer of a QueryReplicationGroup that lists every group of a provider,
	// which is not paged. On the simulator 5,000 groups (with names and agreements) weigh 3.8 MiB, and
	// 10.9 MiB with every id at the API's 255 characters: about 8 and 3 times less.
	maxListingBytes = 32 << 20
)

// AnswerTooLargeError is returned (wrapped) for an answer the client stopped reading at Limit bytes. For a
// sync call it is no answer: the call may have started a task.
type AnswerTooLargeError struct {
	// Limit is the number of bytes read.
	Limit int64
}

// Error implements error.
func (e *AnswerTooLargeError) Error() string {
	return fmt.Sprintf("answer larger than %d MiB, not read", e.Limit>>20)
}

// limitBody returns body failing with *AnswerTooLargeError where it goes past limit bytes.
func limitBody(body io.ReadCloser, limit int64) io.ReadCloser {
	return &limitedBody{ReadCloser: body, left: limit, limit: limit}
}

type limitedBody struct {
	io.ReadCloser
	left, limit int64
}

// Read implements io.Reader.
func (b *limitedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// An answer of exactly limit bytes ends here.
		var one [1]byte
		if n, err := io.ReadFull(b.ReadCloser, one[:]); n == 0 {
			return 0, err
		}
		return 0, &AnswerTooLargeError{Limit: b.limit}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
