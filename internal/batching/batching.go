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

// Chunks splits items into consecutive chunks of at most size items, keeping their order.
// A size <= 0 means no limit: one chunk with everything. No items means no chunks.
func Chunks[T any](items []T, size int) [][]T {
	if len(items) == 0 {
		return nil
	}
	if size <= 0 || size >= len(items) {
		return [][]T{items}
	}
	out := make([][]T, 0, (len(items)+size-1)/size)
	for start := 0; start < len(items); start += size {
		end := min(start+size, len(items))
		out = append(out, items[start:end:end])
	}
	return out
}
