"""What training did to its data, saved and done again (data/preprocessing.py)."""

import numpy as np
import pytest

from nngraph.data.dataset import Dataset, classification, unsupervised
from nngraph.data.preprocessing import Preprocessing, recode
from nngraph.data.scaling import fit_scaler
from nngraph.errors import DataError


def _trained() -> Preprocessing:
    rng = np.random.default_rng(0)
    train = classification(rng.normal(3.0, 2.0, (50, 2, 3)), rng.integers(0, 2, 50), "t", scale="standard",
                           binarize=0.5, shape=[2, 3])
    return Preprocessing.of_training(train, fit_scaler(train))


def test_saved_and_loaded_it_is_the_same():
    before = _trained()
    meta, arrays = before.to_saved()
    after = Preprocessing.from_saved(meta, arrays)
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(before.apply(unsupervised(x, "x")).x, after.apply(unsupervised(x, "x")).x)
    assert (after.binarize, after.shape, after.scaler.method) == (0.5, (2, 3), "standard")


def test_raw_rows_are_binarised_reshaped_and_scaled():
    prep = _trained()
    x = np.array([[0.2, 0.7, 0.9, 0.1, 0.6, 0.4]], np.float32)
    done = prep.apply(unsupervised(x, "x")).x
    expected = ((x > 0.5).astype(np.float32).reshape(1, 2, 3) - prep.scaler.offset) / prep.scaler.factor
    np.testing.assert_allclose(done, expected.astype(np.float32))


def test_a_step_the_data_call_did_is_not_done_twice():
    prep = Preprocessing(binarize=0.5)
    already = unsupervised(np.array([[0.0, 1.0]]), "x", binarize=0.5)
    np.testing.assert_array_equal(prep.apply(already).x, [[0.0, 1.0]])
    high = Preprocessing(binarize=2.0)  # a threshold above 1 would zero a binarised set
    np.testing.assert_array_equal(high.apply(unsupervised(np.array([[0.0, 1.0]]), "x", binarize=2.0)).x,
                                  [[0.0, 1.0]])


def test_nothing_saved_does_nothing():
    x = np.ones((2, 3), np.float32)
    assert Preprocessing.from_saved(None, {}).apply(unsupervised(x, "x")).x is x


def test_text_is_coded_in_the_training_vocabulary():
    data = Dataset(np.array([[0, 1, 1]]), np.array([[1, 1, 0]]), "text", 2, vocabulary="bc", name="t")
    coded = recode(data, "abc")
    np.testing.assert_array_equal(coded.x, [[1, 2, 2]])
    np.testing.assert_array_equal(coded.y, [[2, 2, 1]])
    assert coded.vocabulary == "abc" and coded.n_classes == 3
    with pytest.raises(DataError, match="never saw: 'c'"):
        recode(data, "ab")


def test_class_names_are_numbered_as_the_training_data_numbered_them():
    """A file with fewer classes numbers its own from 0 (sorted names); the training's numbering is put back."""
    data = Dataset(np.zeros((3, 1)), np.array([0, 1, 0]), "classification", 2, name="t",
                   info={"classes": ["versicolor", "virginica"]})
    saved = Preprocessing(classes=("setosa", "versicolor", "virginica"))
    again = Preprocessing.from_saved(*saved.to_saved())
    assert again.classes == saved.classes
    renumbered = again.apply(data)
    np.testing.assert_array_equal(renumbered.y, [1, 2, 1])
    assert renumbered.n_classes == 3
    with pytest.raises(DataError, match="never trained on: 'daisy'"):
        again.apply(Dataset(np.zeros((1, 1)), np.array([0]), "classification", 1, name="t",
                            info={"classes": ["daisy"]}))


def test_a_tables_columns_are_put_in_the_trainings_order_by_their_names():
    """Columns named by a header are matched to training's by name, saved and read back with the checkpoint; a
    headerless table (no names) is taken in its order."""
    saved = Preprocessing.from_saved(*Preprocessing(columns=("a", "b", "c")).to_saved())
    assert saved.columns == ("a", "b", "c")
    data = Dataset(np.array([[3.0, 1.0, 2.0]]), None, "unsupervised", name="t", info={"named_columns": ["c", "a", "b"]})
    np.testing.assert_array_equal(saved.apply(data).x, [[1.0, 2.0, 3.0]])
    unnamed = Dataset(np.array([[3.0, 1.0, 2.0]]), None, "unsupervised", name="t", info={"columns": ["0", "1", "2"]})
    np.testing.assert_array_equal(saved.apply(unnamed).x, [[3.0, 1.0, 2.0]])
    for columns, said in ((["a", "b"], "lacks the columns 'c'"), (["a", "b", "c", "d"], "training had not: 'd'"),
                          (["a", "b", "b", "c"], "names twice 'b'")):
        with pytest.raises(DataError, match=said):
            saved.apply(Dataset(np.zeros((1, len(columns))), None, "unsupervised", name="t",
                                info={"named_columns": columns}))


@pytest.mark.parametrize("meta", [{"scale": "standard"}, {"scale": "cubic"}, {"shape": "x"}, {"binarize": "0.5"},
                                  {"shape": [0, -1]}, {"vocabulary": 3}, {"classes": "ab"}, {"classes": [1, 2]},
                                  {"columns": "ab"}, {"columns": [None]}])
def test_a_corrupt_saved_preprocessing_is_refused(meta):
    with pytest.raises(DataError, match="corrupt"):
        Preprocessing.from_saved(meta, {})
