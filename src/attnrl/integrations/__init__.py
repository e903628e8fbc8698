"""Adapters that make the task a first-class citizen of RL trainers and eval frameworks.

One grader, one reward everywhere: every adapter rebuilds the row's task from its ``info``
(:func:`attnrl.task.dataset.task_from_info`) and returns ``task.grade(answer).reward``.

=================================  =====================================================  =========
module                             entry point                                            extra
=================================  =====================================================  =========
``attnrl.integrations.verl``       ``compute_score`` (``reward.custom_reward_function``)  none
``attnrl.integrations.trl``        ``reward_func`` (GRPOTrainer ``reward_funcs``)         ``hf``
``attnrl.integrations.openrlhf``   ``reward_func`` (``--reward.remote_url`` file)         none
``attnrl.integrations.verifiers``  ``load_environment`` (vf-eval, prime-rl)               verifiers
``attnrl.integrations.inspect``    ``attention_task`` (``inspect eval``)                  inspect
=================================  =====================================================  =========

prime-rl loads verifiers v1 tasksets (verifiers 0.4, its own environment): that is
``attnrl.integrations.verifiers_v1`` (``AttentionTaskset``, taskset id ``attnrl-v1``).

The framework modules are imported only when used; one whose extra is missing raises an
ImportError saying which ``pip install 'attnrl[...]'`` it needs. This package itself
exports the framework-free core: :func:`reward_for`, :func:`grade_completion` and
:func:`extract_submission`. :mod:`attnrl.integrations._commands` holds the trainers' command
lines, once for the README and the trainer tier.
"""

from attnrl.integrations._common import grade_completion, reward_for, task_for
from attnrl.integrations._extract import NO_SUBMISSION, extract_submission

__all__ = ["NO_SUBMISSION", "extract_submission", "grade_completion", "reward_for", "task_for"]
