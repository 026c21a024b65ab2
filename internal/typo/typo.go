// Package typo finds the known name an unknown one is most likely a typo
// of, for error messages that suggest a fix.
package typo

// maxEdits is the furthest a name may be from a known one and still be
// taken for a typo of it.
const maxEdits = 2

// Closest returns the name in known closest to name by edit distance, and
// false when none is within two edits. Ties go to the earlier name, so
// callers pass known sorted for stable messages.
func Closest(name string, known []string) (string, bool) {
	best, bestDist := "", maxEdits+1
	for _, k := range known {
		if len(name) > 2*len(k) {
			continue
		}
		if d := distance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best, best != ""
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
