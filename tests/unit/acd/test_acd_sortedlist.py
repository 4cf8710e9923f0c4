import random

import pytest

from hotline.acd.sortedlist import SortedList


def test_matches_a_plain_sorted_list_under_random_operations():
    rng = random.Random(7)
    sl = SortedList(load=8)
    ref: list[int] = []
    for _ in range(4000):
        x = rng.randrange(600)
        if x in ref:
            sl.remove(x)
            ref.remove(x)
        else:
            sl.add(x)
            ref.append(x)
            ref.sort()
        assert len(sl) == len(ref)
    assert list(sl) == ref
    assert sl.first() == ref[0]
    assert sl.second() == ref[1]
    for probe in (-1, 0, 137, 300, 599, 10_000):
        assert sl.rank(probe) == sum(1 for v in ref if v < probe)
        assert sl.ceiling(probe) == next((v for v in ref if v >= probe), None)
        assert (probe in sl) == (probe in ref)
    assert [sl[i] for i in (0, 5, len(ref) - 1, -1)] == [ref[0], ref[5], ref[-1], ref[-1]]
    assert list(sl.irange(100, 200)) == [v for v in ref if 100 <= v < 200]


def test_duplicates_and_missing_items_are_errors():
    sl = SortedList([3, 1, 2])
    with pytest.raises(ValueError, match="duplicate"):
        sl.add(2)
    with pytest.raises(ValueError, match="not in list"):
        sl.remove(9)
    assert sl.discard(9) is False
    assert sl.discard(1) is True
    with pytest.raises(IndexError):
        sl[5]
    assert SortedList().ceiling(1) is None
    assert SortedList([1]).second() is None
