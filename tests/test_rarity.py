"""Document-frequency tables: summing batch tables equals counting all documents at once."""

from __future__ import annotations

import numpy as np
import pytest

from spintrace.matcher import rarity
from spintrace.matcher.rarity import DocumentFrequencies


def _documents(n: int, seed: int = 7) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(400)]
    return [list(rng.choice(vocabulary, size=rng.integers(1, 60))) for _ in range(n)]


@pytest.mark.parametrize("group_keys", [1, 50, 1 << 24])
def test_merging_batch_tables_equals_counting_everything(
    monkeypatch: pytest.MonkeyPatch, group_keys: int
) -> None:
    """Whatever the group size of the streaming merge (1: a running total after every table),
    the sum of per-batch tables is the table of all documents."""
    monkeypatch.setattr(rarity, "_MERGE_KEYS", group_keys)
    documents = _documents(300)
    whole = DocumentFrequencies.build(documents)
    batches = [DocumentFrequencies.build(documents[i : i + 37]) for i in range(0, 300, 37)]
    merged = DocumentFrequencies.merge(iter(batches))
    assert merged.documents == whole.documents == 300
    assert np.array_equal(merged.keys, whole.keys)
    assert np.array_equal(merged.counts, whole.counts)
    assert np.all(np.diff(merged.keys.astype(np.int64)) > 0)
    # Stored straight from its key ranges: the same bytes; for judging, without singletons.
    data, documents = DocumentFrequencies.merged_bytes(iter(batches))
    assert data == merged.to_bytes() and documents == 300
    pruned = DocumentFrequencies.merge(iter(batches), singletons=False)
    assert np.array_equal(pruned.keys, merged.without_singletons().keys)
    assert np.array_equal(pruned.counts, merged.without_singletons().counts)


def test_merge_of_nothing_and_of_empty_tables() -> None:
    assert len(DocumentFrequencies.merge([])) == 0
    empty = DocumentFrequencies.merge([DocumentFrequencies.empty(), DocumentFrequencies.empty()])
    assert len(empty) == 0 and empty.documents == 0
    one = DocumentFrequencies.build([["a", "b"]])
    both = DocumentFrequencies.merge([DocumentFrequencies.empty(), one])
    assert np.array_equal(both.keys, one.keys) and both.documents == 1


def test_counts_past_16_bits_and_keys_at_the_top_of_the_range() -> None:
    """Packing key and count into one 64-bit word loses neither high keys nor large counts."""
    keys = np.array([0, 2**31, 2**32 - 1], dtype=np.uint32)
    a = DocumentFrequencies(keys, np.array([70_000, 1, 3_000_000_000], np.uint32), 10)
    b = DocumentFrequencies(keys[1:], np.array([5, 1_000_000_000], np.uint32), 20)
    merged = DocumentFrequencies.merge([a, b])
    assert merged.keys.tolist() == keys.tolist()
    assert merged.counts.tolist() == [70_000, 6, 4_000_000_000]
    assert merged.documents == 30


def test_a_table_without_singletons_weighs_every_text_the_same() -> None:
    """Dropping the keys one document holds (what a judge keeps in memory) changes no weight:
    an unseen key counts as held by one document."""
    documents = _documents(300)
    full = DocumentFrequencies.build(documents)
    pruned = full.without_singletons()
    assert 0 < len(pruned) < len(full) and pruned.documents == full.documents
    for words in [*documents[:20], ["w1"], ["never", "seen", "w3"], []]:
        assert np.array_equal(pruned.token_weights(words), full.token_weights(words))
        assert np.array_equal(pruned.idf(words), full.idf(words))


def test_a_stored_table_reads_back_from_a_buffer_without_a_copy() -> None:
    table = DocumentFrequencies.build(_documents(50))
    data = bytearray(table.to_bytes())
    read = DocumentFrequencies.from_bytes(data)
    assert np.array_equal(read.keys, table.keys) and np.array_equal(read.counts, table.counts)
    assert read.documents == 50 and np.shares_memory(read.keys, np.frombuffer(data, np.uint8))
    assert read.keys.flags.aligned and read.counts.flags.aligned  # searched without a copy
    data[-1] ^= 1
    with pytest.raises(ValueError, match="CRC"):
        DocumentFrequencies.from_bytes(data)


def test_weights_follow_the_share_of_the_corpus_not_its_size() -> None:
    """Regression (bench/scale.py, a million sources: 443 of 1,667 excerpts linked): weights
    from plain counts shrank as sources were added, so the same pasted paragraph stopped being
    a rare passage. A corpus 100 times larger in which every pair is 100 times commoner weighs
    every text the same; at or under RATE_BASE documents weights stay 1 / sqrt(df)."""
    documents = _documents(300)
    small = DocumentFrequencies.build(documents)
    small = DocumentFrequencies(small.keys, small.counts * 20, 5_000)
    large = DocumentFrequencies(small.keys, small.counts * 100, 500_000)
    words = documents[0]
    assert np.allclose(large.token_weights(words), small.token_weights(words))
    assert np.allclose(large.token_weights(words[:1]), small.token_weights(words[:1]))
    pair = small.lookup(rarity.bigram_keys(words[:2]))[0]
    assert small.token_weights(words[:2])[0] == pytest.approx(1 / np.sqrt(pair))


def test_a_table_stored_by_the_previous_format_still_reads() -> None:
    """Version 1 (an 18-byte header, arrays unaligned) is what databases already hold."""
    import struct
    import zlib

    table = DocumentFrequencies.build(_documents(40))
    payload = table.keys.astype("<u4").tobytes() + table.counts.astype("<u4").tobytes()
    header = struct.pack("<4sHIII", b"SPDF", 1, 40, len(table), zlib.crc32(payload))
    read = DocumentFrequencies.from_bytes(header + payload)
    assert np.array_equal(read.keys, table.keys) and np.array_equal(read.counts, table.counts)
    assert read.documents == 40 and read.keys.flags.aligned
