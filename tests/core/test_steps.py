"""One step count: "step N" is N training steps completed, whatever stats a view shows."""
import dataclasses

from vgviz.core.config import RunConfig
from vgviz.core.measure.steps import step_label, step_text, steps_done
from vgviz.core.runfile.format import decode_capture, encode_capture
from vgviz.core.tasks import make_trainer

SMALL = RunConfig(depth=2, width=4, steps=5)


def test_steps_done_counts_the_updates_applied():
    trainer = make_trainer(SMALL)
    assert steps_done(trainer.measure()) == 0           # the initial weights: nothing trained yet
    last = None
    while not trainer.finished:
        last = trainer.step()
    assert last.step == 4 and steps_done(last) == trainer.step_count == 5
    assert steps_done(trainer.measure()) == 5           # paused after the run: still 5 done
    assert step_label(last) == "step 5"


def test_a_diverged_step_applied_no_update():
    stats = make_trainer(SMALL).step()
    assert steps_done(dataclasses.replace(stats, diverged=True)) == 0


def test_a_recorded_step_counts_as_done_when_read_back():
    stats = make_trainer(SMALL).step()
    header, blob = encode_capture(stats, edges_per_layer=100)
    assert steps_done(decode_capture(header, blob)) == 1


def test_one_number_format():
    assert step_text(5000) == "step 5,000" and step_text(0) == "step 0"
