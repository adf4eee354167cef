// The records' order, (key, sub): comparing two, and where a new one goes
// in an array kept in that order (the store's records, the view's rows).

export function compare(a, b) {
  return a.key - b.key || a.sub - b.sub;
}

/** Where `rec` goes in `arr` (sorted by compare): after every record not after it. */
export function insertionIndex(arr, rec) {
  if (arr.length === 0 || compare(arr[arr.length - 1], rec) <= 0) return arr.length;
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(arr[mid], rec) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
