"""Multi-index Hamming search: exactly the pairs a brute-force scan finds, at every radius."""
import numpy as np

from pipeline.neardup.hamming import hamming_pairs


def test_hamming_pairs_equals_brute_force():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2**64, 1500, dtype=np.uint64, endpoint=False)
    codes[1000:1300] = codes[:300] ^ rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False) & \
        rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False) & rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False) & \
        rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False)   # ~4 bits flipped on average
    for t in (3, 8, 11):
        i, j, d = hamming_pairs(codes, t)
        dist = np.bitwise_count(codes[:, None] ^ codes[None])
        bi, bj = np.nonzero(np.triu(dist <= t, 1))
        assert sorted(zip(i.tolist(), j.tolist())) == sorted(zip(bi.tolist(), bj.tolist()))
        assert (d == dist[i, j]).all()
    qi, rj, _ = hamming_pairs(codes[:50], 8, codes[1000:1300])
    dist = np.bitwise_count(codes[:50, None] ^ codes[None, 1000:1300])
    assert sorted(zip(qi.tolist(), rj.tolist())) == sorted(zip(*map(list, np.nonzero(dist <= 8))))
