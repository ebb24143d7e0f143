"""Temporal window indices: hand-worked windows for each padding mode, and their invariants."""

from __future__ import annotations

import pytest

from lgfn.data.windows import PADDING_MODES, window_indices


@pytest.mark.parametrize(
    ("centre", "expected"),
    [
        # L=10, t=7. Start: p=-3,-2,-1 take k+3+3, k+3+2, k+3+1 = 6, 5, 4.
        (0, [6, 5, 4, 0, 1, 2, 3]),
        # k=1: p=-2 -> 1+3+2 = 6, p=-1 -> 5.
        (1, [6, 5, 0, 1, 2, 3, 4]),
        # k=2: p=-1 -> 2+3+1 = 6.
        (2, [6, 0, 1, 2, 3, 4, 5]),
        (5, [2, 3, 4, 5, 6, 7, 8]),
        # k=9: p=10,11,12 take k-3-(p-9) = 5, 4, 3.
        (9, [6, 7, 8, 9, 5, 4, 3]),
        # k=8: p=10 -> 8-3-1 = 4, p=11 -> 3.
        (8, [5, 6, 7, 8, 9, 4, 3]),
    ],
)
def test_new_info_matches_the_authors_rule(centre: int, expected: list[int]) -> None:
    assert window_indices(centre, 7, 10, "new_info") == expected


def test_new_info_is_the_default() -> None:
    assert window_indices(0, 7, 10) == [6, 5, 4, 0, 1, 2, 3]


@pytest.mark.parametrize(
    ("centre", "expected"),
    [(0, [3, 2, 1, 0, 1, 2, 3]), (1, [2, 1, 0, 1, 2, 3, 4]), (9, [6, 7, 8, 9, 8, 7, 6])],
)
def test_reflection_mirrors_without_repeating_the_edge(centre: int, expected: list[int]) -> None:
    assert window_indices(centre, 7, 10, "reflection") == expected


@pytest.mark.parametrize(
    ("centre", "expected"),
    [(0, [0, 0, 0, 0, 1, 2, 3]), (8, [5, 6, 7, 8, 9, 9, 9])],
)
def test_replicate_repeats_the_end_frame(centre: int, expected: list[int]) -> None:
    assert window_indices(centre, 7, 10, "replicate") == expected


@pytest.mark.parametrize("length", [7, 8, 31])
def test_new_info_gives_distinct_frames_when_the_clip_is_long_enough(length: int) -> None:
    for centre in range(length):
        window = window_indices(centre, 7, length, "new_info")
        assert len(set(window)) == 7, (centre, window)
        assert window[3] == centre


@pytest.mark.parametrize("padding", PADDING_MODES)
@pytest.mark.parametrize("length", [1, 2, 3, 5, 12])
@pytest.mark.parametrize("num_frames", [1, 3, 5, 7, 9])
def test_every_index_stays_inside_the_clip(padding: str, length: int, num_frames: int) -> None:
    for centre in range(length):
        window = window_indices(centre, num_frames, length, padding)
        assert len(window) == num_frames
        assert window[num_frames // 2] == centre
        assert all(0 <= i < length for i in window), window
        # Positions inside the clip are never replaced.
        for offset, index in enumerate(window):
            position = centre - num_frames // 2 + offset
            if 0 <= position < length:
                assert index == position


def test_short_clip_falls_back_to_the_nearest_end_frame() -> None:
    # L=3, t=7, k=0: new_info wants 6, 5, 4 for p=-3..-1, all beyond the clip -> clamped to 2;
    # p=3 wants 0-3-(3-2) = -4 -> clamped to 0.
    assert window_indices(0, 7, 3, "new_info") == [2, 2, 2, 0, 1, 2, 0]
    # Reflection of a 3-frame clip is periodic: ... 1 2 1 0 1 2 1 0 ...
    assert window_indices(0, 7, 3, "reflection") == [1, 2, 1, 0, 1, 2, 1]
    assert window_indices(0, 5, 1, "reflection") == [0, 0, 0, 0, 0]


def test_window_of_one_is_the_centre() -> None:
    assert window_indices(4, 1, 10, "new_info") == [4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 6, 10, "new_info"), "odd"),
        ((0, 0, 10, "new_info"), "odd"),
        ((0, 7, 0, "new_info"), "at least 1"),
        ((10, 7, 10, "new_info"), "outside the clip"),
        ((-1, 7, 10, "new_info"), "outside the clip"),
        ((0, 7, 10, "zeros"), "unknown padding"),
    ],
)
def test_invalid_arguments_are_rejected(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        window_indices(*args)
