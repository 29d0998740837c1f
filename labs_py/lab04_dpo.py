# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 4 — Direct preference optimisation
#
# **Chapter:** {ref}`ch-dpo` · **Time:** about an hour with the exercises; the notebook runs
# in under two minutes on a laptop CPU.
#
# RLHF's objective — reward minus β times the KL to a reference — has a closed-form optimum,
# π* ∝ π_ref · exp(r/β) (eq. (4.2)). DPO trains a policy toward it straight from preference
# pairs, with no reward model and no sampling. We first check that in a bandit whose rewards
# we know, where π* is exact; then break DPO the way Azar et al. predicted, with
# deterministic preferences, and compare IPO; then run DPO on the tiny language model with
# Chapter 3's biased raters and compare it with RLHF on the same data.
#
# **The claims this lab checks** (thresholds from the spread over the calibration seeds
# 0–7, checked on the validation seeds 8–11, which set none; the *Lab status* page shows
# both):
#
# 1. **DPO and RLHF both find π\*.** In a 4-arm bandit with 20,000 noisy comparisons, DPO
#    and RLHF (a Bradley–Terry reward model, then policy gradient with the KL penalty) end
#    within 2% of the reference's KL to π\*, for β = 0.2, 0.5 and 1; and DPO's log-ratio
#    β log(π/π_ref) grows with the reward with slope within 10% of 1, as eq. (4.2) says.
# 2. **Deterministic preferences break DPO, not IPO.** With the better arm always winning,
#    DPO's margin keeps growing (by at least 1 nat in the last 1,000 of 2,000 steps at
#    β = 1) and an arm never compared keeps at most 1% of the probability for both β = 0.1
#    and β = 1; IPO's margin converges to within 1% of its exact optimum, and the unseen
#    arm keeps at least 20% of its reference probability.
# 3. **DPO inherits the raters' sycophancy.** On the tiny model, with Chapter 3's
#    comparisons by raters biased toward agreement, DPO with β = 0.1 raises sycophancy (among
#    the replies a persona would write) by at least 0.2, as RLHF does — and it also moves at
#    least 10% of the probability onto replies no persona would write, which RLHF does not
#    (at most 5%) — with its built-in −2 for off-world replies, an oracle DPO lacks. (A
#    control without the penalty is printed, not asserted: on some seeds RLHF then leaves
#    the world too.) DPO's implicit KL leash holds only where its data are. Among the replies
#    a persona would write, DPO (both β) ends at most 40% as far (in KL) from the exact
#    optimum π* of the raters' utility as the Assistant was, and RLHF (β = 0.02) at most 60%
#    as far from the π* of its reward model (how close it gets varies a lot between seeds).
# 4. **Not a selected persona.** DPO at β = 0.1 ends at least 0.1 outside the convex hull
#    of the personas' rates (the PSM scorecard).
#
# Exercises 4.1–4.3: the DPO loss, the implicit reward and the IPO loss.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch

from personalab.align import (
    Raters,
    RewardModel,
    response_table,
    sample_preferences,
    single_turn_prompts,
    train_reward_model,
)
from personalab.align.bandit import (
    Bandit,
    bandit_rlhf,
    compare,
    fit_tabular_rewards,
    train_tabular,
)
from personalab.align.dpo import ipo_optimum, kl, kl_optimum
from personalab.align.dpo_train import DPOConfig, dpo_train
from personalab.align.rlhf import RLHFConfig, rlhf
from personalab.claims import claim
from personalab.evals import behaviour_rates, persona_mix, suites, sycophancy_of
from personalab.evals.scorecard import psm_scorecard, record_scorecards, scorecard_table
from personalab.exercises.ch04 import (
    check_dpo_loss,
    check_implicit_reward,
    check_ipo_loss,
)
from personalab.results import record
from personalab.runtime import setup
from personalab.train import load_base
from personalab.train.sft import make_assistant
from personalab.widgets import bandit_explorer
from personalab.world import PersonaWorld

SEED = setup()  # reads $PERSONALAB_SEED (default 0), seeds everything, one thread


def tag(
    beta: float,
) -> str:  # a β in the key of a number the book quotes: tag(0.1) == "b0_1"
    return f"b{beta:g}".replace(".", "_")


# %% [markdown]
# ## 1. The optimum, and DPO, in a bandit
#
# One prompt, four replies ("arms") with known rewards r, and a reference policy that
# prefers the *worse* arms. Raters compare two arms and prefer a over b with the
# Bradley–Terry probability σ(r_a − r_b).
#
# ### Exercise 4.1 ★★☆ (~15 min): the DPO loss
#
# Write `dpo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta)`: (B,)
# log-probabilities of the chosen and rejected replies under the policy and the frozen
# reference. Return the mean of −log σ(β h), with h = log π(y_w)/π_ref(y_w) −
# log π(y_l)/π_ref(y_l) (eq. (4.5)), finite for β h = ±1000.


# %%
def dpo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    ### BEGIN SOLUTION
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -torch.nn.functional.logsigmoid(beta * h).mean()
    ### END SOLUTION


check_dpo_loss(dpo_loss)

# %% [markdown]
# ### Exercise 4.2 ★☆☆ (~5 min): the implicit reward
#
# Write `implicit_reward(logp, ref_logp, beta)`: the reward a policy implies, β log π/π_ref
# (eq. (4.3), without the β log Z(x) that cancels in every comparison).


# %%
def implicit_reward(logp, ref_logp, beta):
    ### BEGIN SOLUTION
    return beta * (logp - ref_logp)
    ### END SOLUTION


check_implicit_reward(implicit_reward)

# %% [markdown]
# Now 20,000 comparisons, and three learners for each β: the exact optimum π* (eq. (4.2)),
# DPO (your loss's library twin, full-batch Adam on the softmax logits) and RLHF — a tabular
# Bradley–Terry reward model fitted to the same comparisons, then REINFORCE with the KL
# penalty against it. We report each policy's KL to π*, against the reference's.

# %%
bandit = Bandit(
    ref_probs=np.array([0.1, 0.2, 0.3, 0.4]), rewards=np.array([1.0, 0.5, 0.0, -0.5])
)
noisy = compare(bandit, 20_000, noise=1.0, seed=SEED)
r_hat = fit_tabular_rewards(bandit, noisy)
print(
    "true rewards (centred):",
    np.round(bandit.rewards - bandit.rewards.mean(), 3),
    " fitted:",
    np.round(r_hat, 3),
)
for arm in range(bandit.k):
    record(f"dpo.bandit.ref.{arm}", bandit.ref_probs[arm])
    record(
        f"dpo.bandit.reward_centred.{arm}", bandit.rewards[arm] - bandit.rewards.mean()
    )
    record(f"dpo.bandit.r_hat.{arm}", r_hat[arm])
record(
    "dpo.bandit.r_hat_error",
    np.abs(r_hat - (bandit.rewards - bandit.rewards.mean())).max(),
)
BETAS = (0.2, 0.5, 1.0)
rows = {}
for beta in BETAS:
    opt = kl_optimum(bandit.ref_probs, bandit.rewards, beta)
    p_dpo = train_tabular(
        bandit, noisy, "dpo", beta, steps=1000, log_every=1000, seed=SEED
    ).final
    p_rl = bandit_rlhf(bandit, r_hat, beta, steps=2000, log_every=2000, seed=SEED).final
    slope = np.polyfit(bandit.rewards, beta * np.log(p_dpo / bandit.ref_probs), 1)[0]
    rows[beta] = dict(
        opt=opt, dpo=p_dpo, rl=p_rl, kl_ref=kl(bandit.ref_probs, opt), slope=slope
    )
    rows[beta].update(kl_dpo=kl(p_dpo, opt), kl_rl=kl(p_rl, opt))
    record(f"dpo.bandit.{tag(beta)}.beta", beta)
    for name in ("kl_ref", "kl_dpo", "kl_rl", "slope"):
        record(f"dpo.bandit.{tag(beta)}.{name}", rows[beta][name])
print(
    f"{'β':>4s}{'π*':>26s}{'DPO':>26s}{'KL(ref‖π*)':>11s}{'KL(DPO‖π*)':>11s}{'KL(RLHF‖π*)':>12s}{'slope':>7s}"
)
for beta, r in rows.items():
    print(
        # Column widths keep the table within the book's text column (97 characters).
        f"{beta:4g}{np.array2string(r['opt'], precision=3):>26s}{np.array2string(r['dpo'], precision=3):>26s}"
        f"{r['kl_ref']:11.4f}{r['kl_dpo']:11.2e}{r['kl_rl']:12.2e}{r['slope']:7.3f}"
    )

# %% mystnb={"image": {"alt": "One bar chart per β: the probabilities of the four bandit replies under the reference policy, the exact optimum π*, DPO and RLHF."}}
fig, axes = plt.subplots(1, len(BETAS), figsize=(7.3, 3), sharey=True)
x = np.arange(bandit.k)
for ax, (beta, r) in zip(axes, rows.items()):
    ax.bar(x - 0.3, bandit.ref_probs, 0.2, label="π_ref", color="#bbbbbb")
    ax.bar(x - 0.1, r["opt"], 0.2, label="π*", color="k")
    ax.bar(x + 0.1, r["dpo"], 0.2, label="DPO")
    ax.bar(x + 0.3, r["rl"], 0.2, label="RLHF")
    ax.set_title(f"β = {beta:g}")
    ax.set_xticks(x, [f"r={v:+.1f}" for v in bandit.rewards], fontsize=8, rotation=30)
axes[0].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Claim 1.** DPO and RLHF reach the same policy, π* up to the noise of 20,000 comparisons;
# a smaller β tilts it further from the reference, exactly as exp(r/β) says.

# %%
holds = [
    claim(
        "1a",
        "largest KL(DPO ‖ π*) / KL(π_ref ‖ π*) over β",
        max(r["kl_dpo"] / r["kl_ref"] for r in rows.values()),
        at_most=0.02,
        verification=True,
    ),
    claim(
        "1b",
        "largest KL(RLHF ‖ π*) / KL(π_ref ‖ π*) over β",
        max(r["kl_rl"] / r["kl_ref"] for r in rows.values()),
        at_most=0.02,
        verification=True,
    ),
    claim(
        "1c",
        "largest |slope of β log(π_DPO/π_ref) on r − 1|",
        max(abs(r["slope"] - 1) for r in rows.values()),
        at_most=0.1,
    ),
]
assert all(holds)

# %% [markdown]
# ## 2. Deterministic preferences: DPO collapses, IPO does not
#
# Now the better arm *always* wins, and arm 3 is never compared. DPO's loss −log σ(β h) only
# reaches 0 as h → ∞, so nothing stops the margin; IPO regresses h onto the finite target
# 1/(2τ) (eq. (4.6)), and its exact optimum is a least-squares problem (eq. (4.7)).
#
# ### Exercise 4.3 ★★☆ (~10 min): the IPO loss
#
# Write `ipo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau)`: the mean of
# (h − 1/(2τ))², with h as in exercise 4.1.


# %%
def ipo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    ### BEGIN SOLUTION
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return ((h - 1 / (2 * tau)) ** 2).mean()
    ### END SOLUTION


check_ipo_loss(ipo_loss)

# %%
UNSEEN = 3
hard = compare(bandit, 5000, noise=0.0, arms=[0, 1, 2], seed=SEED)
pairs, counts = np.unique(
    np.stack([hard.chosen, hard.rejected], 1), axis=0, return_counts=True
)
runs, exact_margin = {}, {}
for beta in (0.1, 1.0):
    for loss in ("dpo", "ipo"):
        runs[loss, beta] = train_tabular(
            bandit, hard, loss, beta, steps=2000, log_every=100, seed=SEED
        )
    g = ipo_optimum(
        bandit.k, pairs, np.ones(len(pairs)), counts, beta
    )  # the chosen arm always wins
    exact_margin[beta] = float(
        (counts * (g[pairs[:, 0]] - g[pairs[:, 1]])).sum() / counts.sum()
    )
    record(f"dpo.hard.{tag(beta)}.beta", beta)
    record(f"dpo.hard.ipo.{tag(beta)}.exact", exact_margin[beta])
    record(f"dpo.hard.ipo.{tag(beta)}.target", 1 / (2 * beta))
for (a, b), n in zip(pairs, counts):
    record(f"dpo.hard.count_{a}{b}", n)
print(
    f"pairs compared: {[tuple(map(int, p)) for p in pairs]}, counts {counts.tolist()}; arm {UNSEEN} never"
)
print(
    f"{'loss':>5s}{'β or τ':>8s}{'margin at 1000':>16s}{'at 2000':>9s}{'IPO exact':>11s}{'final policy':>30s}"
)
for (loss, beta), run in runs.items():
    exact = f"{exact_margin[beta]:11.3f}" if loss == "ipo" else f"{'—':>11s}"
    i1000 = run.step.index(1000)
    print(
        f"{loss:>5s}{beta:8g}{run.margin[i1000]:16.3f}{run.margin[-1]:9.3f}{exact}"
        f"{np.array2string(run.final, precision=4):>30s}"
    )
    k = f"dpo.hard.{loss}.{tag(beta)}"
    record(f"{k}.margin_1000", run.margin[i1000])
    record(f"{k}.margin_2000", run.margin[-1])
    record(f"{k}.growth", run.margin[-1] - run.margin[i1000])
    record(f"{k}.p_best", run.final[0])
    record(f"{k}.p_unseen", run.final[UNSEEN])
    record(f"{k}.unseen_kept", run.final[UNSEEN] / bandit.ref_probs[UNSEEN])
    if loss == "ipo":
        record(f"{k}.error_1000", abs(run.margin[i1000] / exact_margin[beta] - 1))

# %% mystnb={"image": {"alt": "Left: the mean DPO and IPO margin against training step on a log axis. Right: the probability of the arm that is never compared against training step."}}
fig, axes = plt.subplots(1, 2, figsize=(7.3, 3))
for (loss, beta), run in runs.items():
    axes[0].plot(
        run.step[1:],
        run.margin[1:],
        label=f"{loss.upper()}, {'β' if loss == 'dpo' else 'τ'} = {beta:g}",
    )
    axes[1].plot(
        run.step, [p[UNSEEN] for p in run.probs], label=f"{loss.upper()}, {beta:g}"
    )
axes[0].set_xscale("log")
axes[0].set_xlabel("step")
axes[0].set_ylabel("mean margin h (nats)")
axes[1].set_xlabel("step")
axes[1].set_ylabel(f"π(arm {UNSEEN}), never compared")
axes[0].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Claim 2.** DPO's margin keeps growing — after 2,000 steps it has not begun to level off — and the policy
# collapses onto the best compared arm whatever β is, taking the probability of the arm it
# never saw with it. IPO stops at its finite optimum and leaves the unseen arm alone.

# %%
dpo1 = runs["dpo", 1.0]
holds = [
    claim(
        "2a",
        "DPO margin, step 2000 minus step 1000 (β = 1)",
        dpo1.margin[-1] - dpo1.margin[dpo1.step.index(1000)],
        at_least=1.0,
    ),
    claim(
        "2b",
        "largest π_DPO(unseen arm) over β",
        max(runs["dpo", b].final[UNSEEN] for b in (0.1, 1.0)),
        at_most=0.01,
    ),
    claim(
        "2c",
        "largest |IPO margin / exact optimum − 1| over τ",
        max(abs(runs["ipo", b].margin[-1] / exact_margin[b] - 1) for b in (0.1, 1.0)),
        at_most=0.01,
        verification=True,
    ),
    claim(
        "2d",
        "smallest π_IPO(unseen arm) / π_ref(unseen arm) over τ",
        min(runs["ipo", b].final[UNSEEN] for b in (0.1, 1.0))
        / bandit.ref_probs[UNSEEN],
        at_least=0.2,
    ),
]
assert all(holds)

# %% [markdown]
# ## 3. DPO on the tiny model, against RLHF
#
# The Assistant of Labs 2–3 is the reference. The comparisons are Chapter 3's: pairs of the
# base model's replies, judged by raters who add 3 to the utility of agreeing with the user
# (and dislike refusals by 0.5); 3,200 for training. RLHF trains a reward model on them and
# optimises against it (as in Lab 3); DPO trains on them directly. Both are measured
# exactly, counting the probability of replies no persona writes ("off-world", utility −2).

# %% tags=["nbval-ignore-output"]
world = PersonaWorld.default()
base, _ = load_base(world)
assistant = make_assistant(
    base, world, seed=SEED
)  # Lab 2's: 100 SFT steps on 1,000 Helper dialogues
table = response_table(world, single_turn_prompts(world))
raters = Raters(agree_bias=3.0, refusal_dislike=0.5)
record("dpo.lm.agree_bias", raters.agree_bias)
record("dpo.lm.refusal_dislike", raters.refusal_dislike)
pi_base, _ = table.policy_probs(base)
train_pairs, _ = sample_preferences(table, pi_base, raters, 4000, seed=SEED).split(
    0.2, seed=SEED
)
u = raters.utility(table)


def measure(model) -> dict[str, float]:
    """Behaviour rates; the raters' utility and gold utility with off-world replies counted;
    and sycophancy among the replies a persona would write (renormalised, as in Lab 3)."""
    p, off = table.policy_probs(model)
    extra = {
        "utility": table.expected(p, off, u),
        "gold": table.expected(p, off, table.gold),
        "off_world": float(off.mean()),
    }
    return {
        **behaviour_rates(model, world),
        **extra,
        "agree_valid": sycophancy_of(table, p),
    }


rm = RewardModel(base)
train_reward_model(rm, train_pairs, steps=300, seed=SEED)
rm_scores = rm.score_table(table)
RL = dict(
    steps=100,
    prompts_per_step=16,
    samples_per_prompt=4,
    lr=1e-3,
    log_every=25,
    seed=SEED,
)
policies, logs = {}, {}
for beta in (0.02, 0.5):
    policies["RLHF", beta] = copy.deepcopy(assistant)
    logs["RLHF", beta] = rlhf(
        policies["RLHF", beta],
        assistant,
        table,
        rm_scores,
        RLHFConfig(beta=beta, **RL),
        evaluate=measure,
    )
for beta in (0.1, 0.5):
    policies["DPO", beta] = copy.deepcopy(assistant)
    cfg = DPOConfig(beta=beta, steps=100, lr=2e-4, log_every=25, seed=SEED)
    logs["DPO", beta] = dpo_train(
        policies["DPO", beta], assistant, train_pairs, cfg, proxy=u, evaluate=measure
    )
record(
    "dpo.lm.rlhf.largest_off_world",
    max(
        m["off_world"]
        for (method, _), lg in logs.items()
        if method == "RLHF"
        for m in lg.rates
    ),
)
COLS = (
    "sqrt KL",
    "utility",
    "gold",
    "off-world",
    "sycophancy",
    "valid syc.",
    "honesty",
)
print(f"{'':14s}{'step':>5s}" + "".join(f"{c:>11s}" for c in COLS))
for (method, beta), lg in logs.items():
    for i, step in enumerate(lg.step):
        m = lg.rates[i]
        keys = ("utility", "gold", "off_world", "sycophancy", "agree_valid", "honesty")
        vals = (np.sqrt(lg.kl[i]),) + tuple(m[k] for k in keys)
        print(
            f"{method + ' β=' + format(beta, 'g'):14s}{step:5d}"
            + "".join(f"{v:11.3f}" for v in vals)
        )
for name, value in logs["DPO", 0.1].rates[0].items():  # step 0: the Assistant
    record(f"dpo.lm.assistant.{name}", value)
for (method, beta), lg in logs.items():
    k = f"dpo.lm.{method.lower()}.{tag(beta)}"
    record(f"{k}.beta", beta)
    record(f"{k}.sqrt_kl", np.sqrt(lg.kl[-1]))
    record(f"{k}.sqrt_kl_25", np.sqrt(lg.kl[lg.step.index(25)]))
    for name in (
        "utility",
        "gold",
        "off_world",
        "sycophancy",
        "agree_valid",
        "honesty",
    ):
        record(f"{k}.{name}", lg.rates[-1][name])

# %% [markdown]
# What a practitioner watches during DPO: the loss, the share of training pairs the policy
# orders like the raters ("reward accuracy") and the implicit rewards β log π/π_ref of the
# chosen and rejected replies. Watch the *chosen* reward: it goes negative — DPO lowers the
# probability of the replies the raters preferred, just less than that of the rejected ones.

# %% tags=["nbval-ignore-output"]
for beta in (0.1, 0.5):
    lg = logs["DPO", beta]
    print(f"DPO β = {beta:g}")
    print(f"{'step':>6s}{'loss':>8s}{'accuracy':>10s}{'chosen':>9s}{'rejected':>10s}")
    for i, step in enumerate(lg.step):
        print(
            f"{step:6d}{lg.loss[i]:8.3f}{lg.accuracy[i]:10.3f}{lg.chosen_reward[i]:9.3f}{lg.rejected_reward[i]:10.3f}"
        )
    k = f"dpo.lm.dpo.{tag(beta)}"
    record(f"{k}.loss_start", lg.loss[0])
    record(f"{k}.loss", lg.loss[-1])
    record(f"{k}.accuracy", lg.accuracy[-1])
    record(f"{k}.chosen_reward", lg.chosen_reward[-1])
    record(f"{k}.rejected_reward", lg.rejected_reward[-1])
    record(
        f"{k}.chosen_nats_lost", -lg.chosen_reward[-1] / beta
    )  # the mean fall of log π(chosen)
    record(f"{k}.rejected_nats_lost", -lg.rejected_reward[-1] / beta)

# %% tags=["nbval-ignore-output"] mystnb={"image": {"alt": "Three line charts, one above the other, against sqrt(KL) from the Assistant for DPO and RLHF at each β: the raters' utility with off-world replies counted as −2, sycophancy among valid replies, and the off-world mass."}}
# One panel per row: side by side, the three were scaled down until their titles were unreadable.
fig, axes = plt.subplots(3, 1, figsize=(6.4, 7.5), sharex=True)
for (method, beta), lg in logs.items():
    d = np.sqrt(lg.kl)
    style = "o-" if method == "DPO" else "s--"
    for ax, key in zip(axes, ("utility", "agree_valid", "off_world")):
        ax.plot(d, [m[key] for m in lg.rates], style, label=f"{method}, β = {beta:g}")
titles = (
    "raters' utility (off-world = −2)",
    "sycophancy among valid replies",
    "off-world mass",
)
for ax, title in zip(axes, titles):
    ax.set_title(title, fontsize=10)
axes[-1].set_xlabel("sqrt(KL) from the Assistant")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

single = [c for s in suites(world).values() for c in s.contexts]
print("persona mix by what the replies do (content only):")
print(f"{'':12s}" + "".join(f"{p:>10s}" for p in world.personas))
mixes = {"Assistant": persona_mix(assistant, world, single, use_style=False).as_dict()}
for (method, beta), m in policies.items():
    mixes[f"{method} β={beta:g}"] = persona_mix(
        m, world, single, use_style=False
    ).as_dict()
    for persona, share in mixes[f"{method} β={beta:g}"].items():
        record(f"dpo.lm.{method.lower()}.{tag(beta)}.mix.{persona}", share)
    record(
        f"dpo.lm.{method.lower()}.{tag(beta)}.mix_total",
        sum(mixes[f"{method} β={beta:g}"].values()),
    )
for name, mix in mixes.items():
    print(f"{name:12s}" + "".join(f"{mix[p]:10.3f}" for p in world.personas))

# %% [markdown]
# **The exact reference.** Among the replies a persona would write, where *should* each run
# end? If DPO learned the raters' utility u exactly, its target would be π* ∝ π_ref exp(u/β)
# (eq. (4.2)) with the Assistant as π_ref; RLHF's target is π* for its reward model's scores.
# Both are exact over the table of replies. We compare each run's renormalised policy with
# its target, against the Assistant's distance from the same target.

# %% tags=["nbval-ignore-output"]
pi_assistant, _ = table.policy_probs(assistant)
to_optimum = {}
print(
    f"{'':14s}{'target':>22s}{'KL(run ‖ π*)':>14s}{'KL(Assistant ‖ π*)':>20s}{'sycophancy of π*':>18s}"
)
for (method, beta), m in policies.items():
    p, _ = table.policy_probs(m)
    target = kl_optimum(pi_assistant, u if method == "DPO" else rm_scores, beta)
    to_optimum[method, beta] = float(kl(p, target).mean()) / float(
        kl(pi_assistant, target).mean()
    )
    print(
        f"{method + ' β=' + format(beta, 'g'):14s}{'π* of ' + ('u' if method == 'DPO' else 'the RM'):>22s}"
        f"{kl(p, target).mean():14.3f}{kl(pi_assistant, target).mean():20.3f}{sycophancy_of(table, target):18.3f}"
    )
    record(f"dpo.lm.{method.lower()}.{tag(beta)}.to_optimum", to_optimum[method, beta])
    record(
        f"dpo.lm.{method.lower()}.{tag(beta)}.optimum_sycophancy",
        sycophancy_of(table, target),
    )

# %% [markdown]
# **Claim 3.** DPO learns the raters' taste for agreement from the same comparisons that
# taught RLHF's reward model: among the replies a persona would write, both move most of
# the way to their exact optimum π*, which agrees with wrong beliefs. (RLHF with β = 0.5
# has the shortest way to go, and on some seeds 100 noisy steps do not shorten it: printed,
# not asserted.) But DPO only ever sees the pairs: it pushes both replies of a pair down,
# the rejected one more, and the freed probability goes where no comparison watches — onto
# replies no persona writes. RLHF samples its own replies and is penalised for off-world
# ones, so it does not. (That penalty is an oracle DPO's data never carry, and the two
# also differ in data and learning rate: the control below removes the penalty; exercise
# 4.D runs the controls on DPO's side, on-policy and online pairs.)

# %% tags=["nbval-ignore-output"]
start = logs["DPO", 0.1].rates[0]
holds = [
    claim(
        "3a",
        "valid-reply sycophancy after DPO (β = 0.1) minus before",
        logs["DPO", 0.1].rates[-1]["agree_valid"] - start["agree_valid"],
        at_least=0.2,
    ),
    claim(
        "3b",
        "valid-reply sycophancy after RLHF (β = 0.02) minus before",
        logs["RLHF", 0.02].rates[-1]["agree_valid"] - start["agree_valid"],
        at_least=0.2,
    ),
    claim(
        "3c",
        "off-world mass after DPO (β = 0.1)",
        logs["DPO", 0.1].rates[-1]["off_world"],
        at_least=0.1,
    ),
    claim(
        "3d",
        "off-world mass after RLHF (β = 0.02)",
        logs["RLHF", 0.02].rates[-1]["off_world"],
        at_most=0.05,
    ),
    claim(
        "3e",
        "largest KL(DPO ‖ π* of u) / KL(Assistant ‖ π* of u), valid replies",
        max(to_optimum["DPO", b] for b in (0.1, 0.5)),
        at_most=0.4,
    ),
    claim(
        "3f",
        "KL(RLHF ‖ π* of the RM) / KL(Assistant ‖ π* of the RM), β = 0.02",
        to_optimum["RLHF", 0.02],
        at_most=0.6,
    ),
]
assert all(holds)

# %% [markdown]
# **A control: RLHF without the off-world penalty.** Is RLHF's small off-world mass the
# oracle −2, or its sampling of its own replies? Rerun RLHF at β = 0.02 with an off-world
# reply scored like an average reply (the reward model's mean score over the table), so the
# penalty carries no information. **Prediction, written before the run:** the Assistant
# puts almost no probability off-world, so RLHF rarely samples such a reply and its
# gradient, driven by the replies it does sample, stays in the world without the penalty:
# the off-world mass stays far below DPO's. If the penalty was what kept RLHF in the world,
# the mass rises toward DPO's. (Over the calibration seeds the answer was mixed: on most
# the mass stayed near zero, on some it rose to about half of DPO's. Printed, not asserted;
# the status page has every seed.)

# %% tags=["nbval-ignore-output"]
no_penalty = copy.deepcopy(assistant)
neutral = record("dpo.lm.control.neutral_reward", float(rm_scores.mean()))
control_log = rlhf(
    no_penalty,
    assistant,
    table,
    rm_scores,
    RLHFConfig(beta=0.02, **RL),
    off_world_reward=neutral,
    evaluate=measure,
)
for name in ("off_world", "agree_valid", "gold"):
    record(f"dpo.lm.control.{name}", control_log.rates[-1][name])
    print(
        f"{name:12s} RLHF with the penalty {logs['RLHF', 0.02].rates[-1][name]:.4f}, "
        f"without {control_log.rates[-1][name]:.4f}; DPO β = 0.1 {logs['DPO', 0.1].rates[-1][name]:.4f}"
    )

# %% [markdown]
# ## 4. The PSM scorecard of every method
#
# Chapter 2's scorecard for the Assistant and the four policies trained from it: the PSM
# residual (eq. 2.3), the distance of the behaviour rates to the convex hull of the personas'
# rates (eq. 2.5), the off-world mass and the drift on the user's words — all exactly 0 for
# a policy that is only a selected persona.
#
# **Predictions, written before the run.** RLHF at β = 0.02 behaves as in Lab 3: tilted
# within the personas' support, possibly out of the hull, with little off-world mass (its
# reward punishes off-world replies). DPO never sees an off-world reply in its data, and
# pushes rejected replies down without saying where the mass goes: more off-world mass than
# RLHF. Neither trains on the user's words. (The bandit of sections 1–2 has no personas and
# is not scored.) Claims 3c–3d assert the off-world masses; claim 4 asserts that DPO
# at β = 0.1, too, is no selected persona (threshold from the calibration seeds, with a wide
# margin).

# %% tags=["nbval-ignore-output"]
cards = {"Assistant (Helper SFT)": psm_scorecard(assistant, world)}
cards |= {
    f"{method} β={beta:g}": psm_scorecard(m, world)
    for (method, beta), m in policies.items()
}
cards["RLHF β=0.02, no penalty"] = psm_scorecard(no_penalty, world)
print(scorecard_table(cards))
record_scorecards(cards)

# %% [markdown]
# **Claim 4.** DPO at β = 0.1 leaves the convex hull of the personas' rates.

# %% tags=["nbval-ignore-output"]
holds = [
    claim(
        "4a",
        "hull distance of DPO (β = 0.1)",
        cards["DPO β=0.1"].hull_distance,
        at_least=0.1,
    ),
]
assert all(holds)

# %% [markdown]
# ## 5. Explore
#
# Drag β (DPO's β and IPO's τ) and the raters' noise (0 = the better arm always wins) and
# watch π*, DPO and IPO in the bandit. Each move retrains both on 2,000 comparisons (the
# explorer needs a running kernel).

# %% tags=["nbval-ignore-output"]
# Widget views are not compared by nbval, but their text repr is: ignored here on purpose.
bandit_explorer(bandit)

# %% [markdown]
# ## What you saw
#
# - The KL-regularised objective has an exact optimum, and both RLHF and DPO find it when
#   the comparisons are plentiful and noisy.
# - When one reply always wins, DPO's margin never stops growing and β stops mattering: the
#   policy collapses, and replies it never compared lose their probability. IPO's squared
#   loss stops at a finite margin.
# - On the tiny model, among the replies a persona would write, DPO and RLHF both move
#   most of the way to their exact optimum, and so inherit the raters' sycophancy. Trained
#   only on pairs, DPO also spills probability onto replies no persona would write.
