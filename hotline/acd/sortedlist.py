"""A sorted list of unique, comparable items, stored as a list of short sorted sublists.

The layout is the one `sortedcontainers` uses, cut down to what routing needs: add and
remove cost O(log n) to find the sublist plus a memmove of at most `2 * load` pointers,
so a 100k-item waiting list stays as fast as a 1k one. Rank (position) lookups add a
sum over sublist lengths (n / load additions); only position queries pay it, never
a routing decision.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

_LOAD = 256

T = TypeVar("T", bound="SupportsRichComparison")


class SortedList(Generic[T]):
    """Unique items in ascending order; duplicates are a caller bug and raise.

    Look-ups by position (`ceiling`, `rank`, `irange`) take an item or anything that
    compares with items, such as a prefix of a tuple item (`(priority,)`).
    """

    __slots__ = ("_len", "_lists", "_load", "_maxes")

    def __init__(self, items: Iterable[T] = (), load: int = _LOAD) -> None:
        self._lists: list[list[T]] = []
        self._maxes: list[T] = []
        self._len = 0
        self._load = load
        for item in sorted(items):
            self.add(item)

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[T]:
        for sub in self._lists:
            yield from sub

    def __contains__(self, item: object) -> bool:
        i = bisect_left(self._maxes, item)
        if i == len(self._maxes):
            return False
        sub = self._lists[i]
        j = bisect_left(sub, item)
        return j < len(sub) and sub[j] == item

    def add(self, item: T) -> None:
        if not self._lists:
            self._lists.append([item])
            self._maxes.append(item)
            self._len = 1
            return
        i = bisect_left(self._maxes, item)
        if i == len(self._maxes):
            i -= 1
            self._lists[i].append(item)
            self._maxes[i] = item
        else:
            sub = self._lists[i]
            j = bisect_left(sub, item)
            if j < len(sub) and sub[j] == item:
                raise ValueError(f"duplicate item {item!r}")
            sub.insert(j, item)
        self._len += 1
        if len(self._lists[i]) > 2 * self._load:
            self._split(i)

    def _split(self, i: int) -> None:
        sub = self._lists[i]
        half = sub[self._load :]
        del sub[self._load :]
        self._lists.insert(i + 1, half)
        self._maxes[i] = sub[-1]
        self._maxes.insert(i + 1, half[-1])

    def remove(self, item: T) -> None:
        i = bisect_left(self._maxes, item)
        if i < len(self._maxes):
            sub = self._lists[i]
            j = bisect_left(sub, item)
            if j < len(sub) and sub[j] == item:
                del sub[j]
                self._len -= 1
                if not sub:
                    del self._lists[i]
                    del self._maxes[i]
                else:
                    if j == len(sub):
                        self._maxes[i] = sub[-1]
                    # Merge a shrunken sublist into its neighbour so removals can't leave
                    # thousands of tiny sublists behind (that would slow the maxes bisect).
                    if len(sub) < self._load // 4 and len(self._lists) > 1:
                        k = i - 1 if i > 0 else i
                        self._lists[k].extend(self._lists[k + 1])
                        self._maxes[k] = self._lists[k][-1]
                        del self._lists[k + 1]
                        del self._maxes[k + 1]
                        if len(self._lists[k]) > 2 * self._load:
                            self._split(k)
                return
        raise ValueError(f"{item!r} not in list")

    def discard(self, item: T) -> bool:
        """Remove `item` if present; say whether it was."""
        try:
            self.remove(item)
        except ValueError:
            return False
        return True

    def first(self) -> T:
        return self._lists[0][0]

    def second(self) -> T | None:
        """The runner-up (for explanations), or None."""
        if self._len < 2:
            return None
        head = self._lists[0]
        return head[1] if len(head) > 1 else self._lists[1][0]

    def ceiling(self, item: Any) -> T | None:
        """The smallest stored item >= `item`, or None."""
        i = bisect_left(self._maxes, item)
        if i == len(self._maxes):
            return None
        sub = self._lists[i]
        return sub[bisect_left(sub, item)]

    def rank(self, item: Any) -> int:
        """How many stored items are < `item` (its 0-based position, stored or not)."""
        i = bisect_left(self._maxes, item)
        before = sum(len(sub) for sub in self._lists[:i])
        if i == len(self._lists):
            return before
        return before + bisect_left(self._lists[i], item)

    def __getitem__(self, index: int) -> T:
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("SortedList index out of range")
        for sub in self._lists:
            if index < len(sub):
                return sub[index]
            index -= len(sub)
        raise IndexError("SortedList index out of range")  # pragma: no cover

    def irange(self, low: Any, high: Any) -> Iterator[T]:
        """Items with low <= item < high, in order."""
        i = bisect_left(self._maxes, low)
        for sub in self._lists[i:]:
            start = bisect_left(sub, low)
            stop = bisect_left(sub, high)
            yield from sub[start:stop]
            if stop < len(sub):
                return
