import numpy as np

from metrics_helpers import paintings
from pipeline.neardup.detect import Rule
from pipeline.metrics.diversity import distinct_share


def test_different_paintings_are_all_distinct_and_one_copy_removes_a_pair():
    x = paintings(40, 32)
    assert distinct_share(x, Rule()) == 1.0
    x[1] = x[0]            # image 0 and its copy both match another image of the set
    assert distinct_share(x, Rule()) == 38 / 40


def test_one_image_repeated_has_no_distinct_images():
    x = paintings(40, 32)
    assert distinct_share(np.repeat(x[:1], 40, axis=0), Rule()) == 0.0


def test_a_few_copies_lower_the_share_by_their_number():
    x = paintings(40, 32)
    base = distinct_share(x, Rule())
    x[30:] = x[0]          # 10 copies of image 0 replace 10 other images
    assert distinct_share(x, Rule()) == base - 11 / 40
