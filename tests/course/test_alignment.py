"""The RLHF figures' helpers (`course.alignment`): what a rating is made of, how far a small count's accuracy can
move (against SciPy's Wilson interval), and the Figure 7, 8 and PPO plots' axes."""

import matplotlib
import pytest
from scipy.stats import binomtest

from llama_lab.course import alignment
from llama_lab.world.preferences import RATINGS

matplotlib.use("Agg")


@pytest.mark.parametrize("hits, n", [(9, 19), (0, 12), (12, 12), (121, 130), (65, 115)])
def test_wilson_interval_is_scipys(hits, n):
    low, high = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert alignment.wilson_interval(hits, n, z=1.959963984540054) == pytest.approx((low, high), abs=1e-12)
    assert alignment.wilson_interval(hits, n) == pytest.approx((low, high), abs=1e-4)  # z rounded to 1.96


def test_an_interval_needs_a_trial():
    with pytest.raises(ValueError, match="n=0"):
        alignment.wilson_interval(0, 0)


def test_score_pairs_split_each_rating_by_the_judges_scores():
    fact, harmful = {"intent": "fact"}, {"intent": "harmful"}
    records = [{"item": fact, "rating": "significantly better", "scores": (3, 0)},
               {"item": fact, "rating": "better", "scores": (2, 0)},
               {"item": fact, "rating": "better", "scores": (3, 1)},
               {"item": fact, "rating": "better", "scores": (2, 0)},
               {"item": harmful, "rating": "slightly better", "scores": [2, 1]}]  # a list, as JSON gives it back
    assert alignment.score_pairs(records) == {
        "helpfulness": {"significantly better": {(3, 0): 1}, "better": {(2, 0): 2, (3, 1): 1}},
        "safety": {"slightly better": {(2, 1): 1}}}
    lines = [line.rstrip() for line in alignment.score_pairs_table(records).splitlines()]
    assert lines[2].split(None, 3) == ["helpfulness", "better", "3", "2 x 2 vs 0, 1 x 3 vs 1"]  # most common first
    assert "significantly better" in lines[5] and lines[5].split()[-2:] == ["0", "-"]  # safety: none of those


def test_accuracy_interval_table_gives_counts_and_intervals():
    by_rating = {"significantly better": (121 / 130, 130), "better": (9 / 19, 19), "slightly better": (35 / 40, 40),
                 "negligibly better / unsure": (0.0, 0)}
    reward = {"models": {"helpfulness/small": {"accuracy": {"by rating": by_rating}}}}
    lines = alignment.accuracy_interval_table(reward, "helpfulness").splitlines()
    assert lines[2].split()[-5:] == ["9", "of", "19", "47.4", "27-68"]
    assert lines[4].split()[-3:] == ["0", "-", "-"]


def _curves():
    return {t: {"n": [1, 2, 4], "max": [0.6, 0.7, 0.8], "median": [0.6, 0.6, 0.61]} for t in ("0.8", "1.0")}


def _history():
    return [{"iteration": i, "reward": 0.7, "judge_helpfulness": 2.2, "judge_safety": 2.8, "kl": 0.1 * i}
            for i in range(3)]


def test_every_axis_is_labelled_and_a_log_axis_says_so():
    gatt_row = {"kept": [0.5, 0.4], "attention": {"attention": [0.3, 0.2], "share": [0.3, 0.2]}}
    figures = [alignment.plot_reward_curves(_curves()), alignment.plot_ppo(_history(), "rejection sampling"),
               alignment.plot_instruction_kept({"GAtt": gatt_row}),
               alignment.plot_attention_along({"GAtt": {"attention": [0.5, 0.4, 0.3], "answers": [1]}}),
               alignment.plot_accuracy_by_rating(
                   {"models": {"helpfulness/small": {"accuracy": {"by rating": {r: (0.5, 4) for r in RATINGS}}}}},
                   "helpfulness")]
    for figure in figures:
        for ax in figure.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), figure
            for label, scale in ((ax.get_xlabel(), ax.get_xscale()), (ax.get_ylabel(), ax.get_yscale())):
                assert ("log scale" in label) == (scale == "log"), (label, scale)
        matplotlib.pyplot.close(figure)


def test_figures_7_and_8_read_n_on_a_log_axis():
    figure = alignment.plot_reward_curves(_curves())
    assert [ax.get_xscale() for ax in figure.axes] == ["log", "log"]
    assert all(ax.get_xlabel() == "N, samples per prompt (log scale)" for ax in figure.axes)
    matplotlib.pyplot.close(figure)


def test_the_ppo_plot_names_the_model_the_kl_is_to():
    figure = alignment.plot_ppo(_history(), "rejection sampling")
    assert "rejection sampling" in figure.axes[1].get_ylabel() and "SFT" not in figure.axes[1].get_ylabel()
    matplotlib.pyplot.close(figure)
