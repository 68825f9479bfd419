package batching

// Size returns the batch size to use: the smallest positive limit, or 0 (no limit) when none is positive.
func Size(limits ...int32) int32 {
	var size int32
	for _, l := range limits {
		if l > 0 && (size == 0 || l < size) {
			size = l
		}
	}
	return size
}
