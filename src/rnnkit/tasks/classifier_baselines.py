"""Simple classifiers to measure ``rnnkit train sentiment|seqclass`` against, fitted in
seconds on the run's own training split. Texts are read by the same word splitting as the
network's (lower-cased words and punctuation marks, ``rnnkit.data.tokenizers.split_words``):

* ``tfidf-lr``: TF-IDF of word 1- and 2-grams (sublinear term frequency) and an L2
  logistic regression whose inverse regularisation C is chosen on the validation split.
* ``nbsvm``: NBSVM (Wang & Manning 2012), for each class c against the rest: binary 1- and
  2-gram indicators x scaled by the naive Bayes log-count ratio

      r = log((alpha + p) / ||alpha + p||_1) - log((alpha + q) / ||alpha + q||_1),

  p and q the summed indicators of the texts in and out of c (alpha = 1); a linear SVM
  (squared hinge loss, C = 1) on r * x, its weights then interpolated towards their mean
  magnitude, w' = (1 - beta) mean|w| + beta w (beta = 0.25). The class whose SVM scores
  highest wins. Wang & Manning report 79.4 % on MR (10-fold cross-validation).

Sequences ((T_i, C) arrays):

* ``summary-lr``: each channel's mean, standard deviation, minimum, maximum, first and
  last value, standardised, and a logistic regression with C chosen on validation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from rnnkit.data.tokenizers import split_words

TEXT_BASELINES = {"tfidf-lr": "TF-IDF + LR", "nbsvm": "NBSVM"}
SEQUENCE_BASELINES = {"summary-lr": "summary statistics + LR"}
Classifier = Callable[[list], np.ndarray]  # inputs -> predicted class indices (N,)


def _words(text: str) -> list[str]:
    return split_words(text.lower())


def fit_baseline(name: str, train: list[tuple], valid: list[tuple]) -> Classifier:
    """The baseline ``name`` fitted on ``train`` and tuned on ``valid``, both lists of
    (input, class index)."""
    inputs, labels = [x for x, _ in train], np.array([y for _, y in train])
    if name == "nbsvm":
        return _nbsvm(inputs, labels)
    if name == "tfidf-lr":
        from sklearn.feature_extraction.text import TfidfVectorizer

        features = TfidfVectorizer(tokenizer=_words, lowercase=False, token_pattern=None,
                                   ngram_range=(1, 2), sublinear_tf=True).fit(inputs)  # fmt: skip
        return _logistic(features.transform, inputs, labels, valid)
    if name == "summary-lr":
        return _logistic(_summaries, inputs, labels, valid, standardise=True)
    names = sorted({**TEXT_BASELINES, **SEQUENCE_BASELINES})
    raise ValueError(f"baseline must be one of {names}, got {name!r}")


def _summaries(sequences: list[np.ndarray]) -> np.ndarray:
    """(N, 6C): per channel mean, std, min, max, first and last value."""
    return np.stack([np.concatenate([x.mean(0), x.std(0), x.min(0), x.max(0), x[0], x[-1]])
                     for x in sequences])  # fmt: skip


def _logistic(features: Callable, inputs: list, labels: np.ndarray, valid: list,
              standardise: bool = False) -> Classifier:  # fmt: skip
    """Logistic regression on ``features(inputs)`` (standardised: each feature's mean and
    standard deviation taken out first), C the best on ``valid``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, valid_x = features(inputs), features([v for v, _ in valid])
    valid_y = np.array([y for _, y in valid])
    best, best_accuracy = None, -1.0
    for c in (0.25, 1.0, 4.0, 16.0):
        steps = [StandardScaler()] if standardise else []
        model = make_pipeline(*steps, LogisticRegression(C=c, max_iter=2000)).fit(x, labels)
        accuracy = float(np.mean(model.predict(valid_x) == valid_y))
        if accuracy > best_accuracy:
            best, best_accuracy = model, accuracy
    return lambda new: best.predict(features(new))


def _nbsvm(texts, labels, alpha: float = 1.0, beta: float = 0.25) -> Classifier:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = CountVectorizer(tokenizer=_words, lowercase=False, token_pattern=None,
                                 ngram_range=(1, 2), binary=True)  # fmt: skip
    x = vectorizer.fit_transform(texts).tocsr().astype(np.float64)
    classes = np.unique(labels)
    ratios, weights, biases = [], [], []
    for c in classes[1:] if len(classes) == 2 else classes:  # two classes: one SVM
        inside = labels == c
        p = alpha + np.asarray(x[inside].sum(0)).ravel()
        q = alpha + np.asarray(x[~inside].sum(0)).ravel()
        r = np.log(p / p.sum()) - np.log(q / q.sum())
        with warnings.catch_warnings():  # LinearSVC's "did not converge": C=1 as published
            warnings.simplefilter("ignore")
            svm = LinearSVC(C=1.0, loss="squared_hinge", max_iter=5000).fit(
                x.multiply(r).tocsr(), inside)
        w = svm.coef_.ravel()
        ratios.append(r)
        weights.append((1 - beta) * np.abs(w).mean() + beta * w)
        biases.append(svm.intercept_[0])

    def predict(new: list[str]) -> np.ndarray:
        features = vectorizer.transform(new).astype(np.float64)
        parts = zip(ratios, weights, biases, strict=True)
        scores = np.stack([features.multiply(r) @ w + b for r, w, b in parts], 1)
        if len(classes) == 2:
            return classes[(scores[:, 0] > 0).astype(int)]
        return classes[scores.argmax(1)]

    return predict
