/// The closest candidate to `word`, if it is close enough to be a plausible typo: at most
/// 2 edits, and fewer edits than half the word's length (one edit is always close enough).
public func closestMatch(to word: String, in candidates: [String]) -> String? {
    let w = Array(word.lowercased().unicodeScalars)
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
        let d = editDistance(w, Array(candidate.unicodeScalars))
        guard d <= 2, d == 1 || d * 2 < w.count else { continue }
        if d < (best?.distance ?? .max) { best = (candidate, d) }
    }
    return best?.candidate
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours ("raed" → "read") each cost one edit.
func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var beforePrevious = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                current[j] = min(current[j], beforePrevious[j - 2] + 1)
            }
        }
        (beforePrevious, previous, current) = (previous, current, beforePrevious)
    }
    return previous[b.count]
}
