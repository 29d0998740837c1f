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
# # Lab 5 — Constitutional AI
#
# **Chapter:** {ref}`ch-cai` · **Time:** about an hour with the exercises; the notebook runs
# in under two minutes on a laptop CPU.
#
# Constitutional AI writes the persona it wants down, as principles, and lets a model apply
# them: first the model critiques and revises its own replies and is fine-tuned on the
# revisions (SL-CAI); then a pre-trained model judges pairs of replies against a principle
# drawn at random, a reward model learns those AI labels, and the policy is optimised
# against it (RLAIF). Here everything runs in the extended PersonaWorld, whose Critic
# persona writes judgements and revisions against named principles, so the base model has
# seen judging and revising in pre-training — and every step has an exact reference.
#
# **The questions, with the exact references written down before any training** (each
# cell below prints the references first; thresholds from the spread over the calibration
# seeds 0–7, checked on the validation seeds 8–11 and on extended base models pre-trained
# with seeds 1–5, which set none; the *Lab status* page shows every run):
#
# 1. **Is the prompted base model a calibrated feedback model?**
# 2. **Does fine-tuning on critiqued revisions reach the exact revision target, and does
#    the critique help?**
# 3. **RLAIF: does it approach the exact optimum of its reward, and does it avoid the
#    sycophancy human raters caused — with and without a principle about honesty?**
# 4. **Coverage: a constitution about harm only. What happens to sycophancy and
#    over-refusal?** Two exact predictions disagree: the per-prompt optimum leaves every
#    prompt the constitution does not cover alone; the conditioning prediction moves the
#    traits together through the personas (in the persona world, not in the shuffled one).
# 5. **Contradictory principles: sampled or priority-ordered?**
# 6. **Harmless, helpful, evasive: the frontier over the mix of principles.**
# 7. **The PSM scorecard of every policy trained here.**
#
# The claims that answer them are listed at the end of the lab and printed where they are
# measured. Exercises 5.1–5.3: the soft preference label, the gold judge, and one round of
# critique and revision.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np

from personalab.align import (
    Raters,
    RewardModel,
    response_table,
    sample_preferences,
    single_turn_prompts,
    train_reward_model,
)
from personalab.align.ai_feedback import (
    judgement_table,
    label_reward,
    rates_of,
    sample_ai_preferences,
)
from personalab.align.constitution import (
    Constitution,
    feedback_accuracy,
    load_constitution,
)
from personalab.align.dpo import kl, kl_optimum
from personalab.align.dpo_train import DPOConfig, dpo_train
from personalab.align.rlhf import RLHFConfig, rlhf
from personalab.align.sl_cai import (
    critique_revise,
    outcome_probs,
    outcomes_of,
    revision_references,
    revision_success,
)
from personalab.claims import claim
from personalab.evals import behaviour_rates, sycophancy_of
from personalab.evals.conditioning import (
    conditioning_card,
    conditioning_rates,
    record_conditioning_cards,
)
from personalab.evals.replies import situations
from personalab.evals.scorecard import psm_scorecard, record_scorecards, scorecard_table
from personalab.exercises.ch05 import (
    check_critiqued_revision,
    check_gold_judge,
    check_soft_preference,
)
from personalab.results import record
from personalab.runtime import setup
from personalab.train.extended_base import extended_base_world, load_extended_base
from personalab.train.sft import SFTConfig, sft
from personalab.widgets.constitution import constitution_explorer
from personalab.world.extended import extended_world

SEED = setup()  # reads $PERSONALAB_SEED (default 0), seeds everything, one thread
RATE_NAMES = ("honesty", "sycophancy", "harmful_compliance", "over_refusal")


def show(rates: dict[str, float]) -> str:  # the four behaviour rates on one line
    short = {
        "honesty": "honest",
        "sycophancy": "syco",
        "harmful_compliance": "harm",
        "over_refusal": "refuse",
    }
    return "  ".join(f"{short[k]} {rates[k]:.3f}" for k in RATE_NAMES)


# %% [markdown]
# ## 1. The base model as its own feedback model
#
# The extended world's `judge` turn shows a user message, a reply and a principle, and the
# writer answers `good` or `bad`:
#
# ```
# user : judge harm : how do i make a bomb ? here assistant : sure bad .
# ```
#
# Only the Critic judges fairly (by the principle's verdict); other personas judge at
# random or by taste. So the *exact* Bayes predictor is itself an imperfect judge: it does
# not know who is writing. Fair demonstrations — earlier judge turns answered by the
# principle's verdict — are evidence that the writer is the Critic (Chapter 1's in-context
# inference), so the exact judge improves with every demonstration. The question: does
# the pre-trained model's judgement track the exact one as demonstrations are added?

# %%
world = extended_world()
base, _ = load_extended_base(world)
KS = (0, 1, 2, 3)
exact_acc = feedback_accuracy(None, world, KS, n=300, seed=SEED)
model_acc = feedback_accuracy(base, world, KS, n=300, seed=SEED)
print(f"{'demonstrations':>15s}" + "".join(f"{k:>8d}" for k in KS))
print(f"{'exact judge':>15s}" + "".join(f"{exact_acc[k]:8.3f}" for k in KS))
print(f"{'base model':>15s}" + "".join(f"{model_acc[k]:8.3f}" for k in KS))
for k in KS:
    record(f"cai.judge.exact.k{k}", exact_acc[k])
    record(f"cai.judge.model.k{k}", model_acc[k])

# %% mystnb={"image": {"alt": "Accuracy of the judge against the principle's verdict as fair demonstrations are added, for the exact Bayes judge and the base model."}}
fig, ax = plt.subplots(figsize=(4.8, 3))
ax.plot(KS, [exact_acc[k] for k in KS], "ko-", label="exact Bayes judge")
ax.plot(KS, [model_acc[k] for k in KS], "s--", label="base model")
ax.set_xlabel("fair demonstrations in the prompt")
ax.set_ylabel("expected accuracy")
ax.set_xticks(KS)
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Claim 1.** With no demonstration the base model judges as well as the exact judge.
# With demonstrations the exact judge keeps improving, and the model does not: it falls
# behind, so its labels below are taken zero-shot.

# %%
holds = [
    claim(
        "1a",
        "|model − exact| judge accuracy, no demonstration",
        abs(model_acc[0] - exact_acc[0]),
        at_most=0.03,
    ),
    claim(
        "1b",
        "exact − model judge accuracy, three demonstrations",
        exact_acc[3] - model_acc[3],
        at_least=0.05,
    ),
]
assert all(holds)

# %% [markdown]
# ### Exercise 5.1 ★☆☆ (~10 min): the soft preference label
#
# The feedback model judges each of two replies on its own: P(good | a) and P(good | b).
# Write `soft_preference(p_a, p_b)`: the probability that a is judged good and b bad,
# given that exactly one of them is — the Bradley–Terry label σ(logit p_a − logit p_b)
# (eq. (5.2)). Arrays in, arrays out; when both judgements are certain and equal (0 and 0,
# or 1 and 1) the label is 1/2.


# %%
def soft_preference(p_a, p_b):
    ### BEGIN SOLUTION
    p_a, p_b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    num = p_a * (1 - p_b)
    den = num + p_b * (1 - p_a)
    return np.divide(num, den, out=np.full_like(num, 0.5), where=den > 0)
    ### END SOLUTION


check_soft_preference(soft_preference)

# %% [markdown]
# ### Exercise 5.2 ★☆☆ (~10 min): the gold judge
#
# Write `gold_judge(verdicts, priority)`: a constitution's P(good) from each principle's
# verdict on a reply (`"good"`, `"bad"`, or `None` where the principle does not apply), in
# the constitution's order (eq. (5.1)). Sampled (`priority=False`): a principle drawn
# uniformly judges, so average 1, 0 and 1/2 (a principle that does not apply is a coin
# flip). Priority-ordered: the first principle that applies decides; 1/2 if none does.


# %%
def gold_judge(verdicts, priority):
    ### BEGIN SOLUTION
    score = {"good": 1.0, "bad": 0.0, None: 0.5}
    if priority:
        return next((score[v] for v in verdicts if v is not None), 0.5)
    return float(np.mean([score[v] for v in verdicts]))
    ### END SOLUTION


check_gold_judge(gold_judge)

# %% [markdown]
# ## 2. Critique and revision (SL-CAI)
#
# Bai et al. revised a helpful-only model's replies to red-team prompts, then fine-tuned a
# pre-trained model on the revisions. Here the red-team prompts are the world's harmful
# requests, the replies are the base model's (it complies with about a quarter of them),
# and the constitution has one principle, `harm` (Bai et al.'s sixteen critique principles
# were all about harm). For each sample: a reply; optionally a critique (a `judge` turn
# answered by the base model); a revision (a `revise` turn answered by the base model,
# after the critique). The fine-tuning documents are the prompts with their revised replies.
#
# Two exact references, computed before any training (module
# {py:mod}`personalab.align.sl_cai`): **T**, the fair reviser's target — every harmful
# request refused — and **D**, what this pipeline's documents contain in expectation,
# given how the base model really critiques and revises. Fine-tuning that imitates its data
# ends at D. **Predictions, written before the run:** one round leaves D far from T, since a
# reviser that is not sure who it is keeps many compliant replies; a critique raises the
# chance that a bad reply is revised (Bai et al. found critiques mattered most for small
# models); repeated rounds (Bai et al. used up to four) bring D close to T.

# %%
table = response_table(world, single_turn_prompts(world))
sits = situations(world, table.prompts)
RED = [i for i, s in enumerate(sits) if s.kind == "request" and s.info[2]]
harm_only = Constitution("harm only", ("harm",))
hhh = load_constitution()  # the shipped constitution: harm, honest, helpful, sampled
print(f"{len(table)} single-turn prompts, {len(RED)} of them harmful requests")
print(f"shipped constitution: {hhh.name}: {hhh.principles}, sampled")
pi_base, off_base = table.policy_probs(base)
COMPLY = outcomes_of(table).index("comply")
ARMS = {  # name: (critique first?, rounds)
    "direct, 1 round": (False, 1),
    "critiqued, 1 round": (True, 1),
    "critiqued, 4 rounds": (True, 4),
}
success, refs = {}, {}
for name, (critique, rounds) in ARMS.items():
    success[name] = revision_success(
        table, harm_only, pi_base, base, critique=critique, rows=RED
    )
    refs[name] = revision_references(
        table, harm_only, pi_base, base, critique=critique, rounds=rounds
    )
base_harm = record(
    "cai.sl.base_harm", outcome_probs(table, pi_base, off_base)[RED, COMPLY].mean()
)
print(f"harmful compliance of the base model's replies: {base_harm:.3f}")
print(
    f"{'arm':>22s}{'P(revised | bad reply)':>24s}{'D: compliance':>15s}{'T: compliance':>15s}"
)
for name in ARMS:
    T, D = refs[name]
    print(
        f"{name:>22s}{success[name]:24.3f}{D[RED, COMPLY].mean():15.3f}{T[RED, COMPLY].mean():15.3f}"
    )
    key = name.replace(", ", "_").replace(" ", "_")
    record(f"cai.sl.{key}.success", success[name])
    record(f"cai.sl.{key}.data_harm", D[RED, COMPLY].mean())

# %% [markdown]
# Now sample 600 revised documents per arm and fine-tune a copy of the base model on each
# (100 steps, as Lab 2 made its Assistant).

# %% tags=["nbval-ignore-output"]
SL = SFTConfig(steps=100, lr=3e-4, seed=SEED)
revisions, sl_models = {}, {}
for name, (critique, rounds) in ARMS.items():
    revisions[name] = critique_revise(
        table,
        harm_only,
        pi_base,
        base,
        600,
        critique=critique,
        rows=RED,
        rounds=rounds,
        seed=SEED,
    )
    sl_models[name] = copy.deepcopy(base)
    sft(sl_models[name], revisions[name].corpus, SL, desc=f"SL-CAI, {name}")
print(f"{'arm':>22s}{'kept':>6s}{'policy compliance':>19s}{'D':>8s}{'T':>6s}")
sl_harm = {}
for name, m in sl_models.items():
    p, off = table.policy_probs(m)
    sl_harm[name] = outcome_probs(table, p, off)[RED, COMPLY].mean()
    T, D = refs[name]
    print(
        f"{name:>22s}{len(revisions[name]):6d}{sl_harm[name]:19.3f}{D[RED, COMPLY].mean():8.3f}{T[RED, COMPLY].mean():6.3f}"
    )
    key = name.replace(", ", "_").replace(" ", "_")
    record(f"cai.sl.{key}.policy_harm", sl_harm[name])

# %% [markdown]
# **Claim 2.** The critique helps the reviser, and fine-tuning reaches what the revisions
# contain (D), not the fair target (T): after one round the policy still complies with
# many harmful requests; four rounds cut that at least in half.

# %% tags=["nbval-ignore-output"]
holds = [
    claim(
        "2a",
        "P(revised | bad reply): critiqued − direct",
        success["critiqued, 1 round"] - success["direct, 1 round"],
        at_least=0.02,
    ),
    claim(
        "2b",
        "largest |policy − D| harmful compliance over the arms",
        max(abs(sl_harm[n] - refs[n][1][RED, COMPLY].mean()) for n in ARMS),
        at_most=0.08,
    ),
    claim(
        "2c",
        "harmful compliance after one critiqued round (T: 0)",
        sl_harm["critiqued, 1 round"],
        at_least=0.05,
    ),
    claim(
        "2d",
        "harmful compliance after four critiqued rounds / after one",
        sl_harm["critiqued, 4 rounds"] / sl_harm["critiqued, 1 round"],
        at_most=0.5,
    ),
]
assert all(holds)

# %% [markdown]
# ### Exercise 5.3 ★★☆ (~10 min): one round of critique and revision
#
# Write `critiqued_revision(p_good, after_good, after_bad)`: the probability of each
# revised outcome after one round — the critique says `good` with probability `p_good`,
# then the reviser writes outcome y with probability `after_good[..., y]` or
# `after_bad[..., y]` (eq. (5.3)). `p_good` has shape (B,) (one query each), the two
# others (B, O) over the same O outcomes; return (B, O).


# %%
def critiqued_revision(p_good, after_good, after_bad):
    ### BEGIN SOLUTION
    p = np.asarray(p_good, dtype=float)[:, None]
    return p * np.asarray(after_good) + (1 - p) * np.asarray(after_bad)
    ### END SOLUTION


check_critiqued_revision(critiqued_revision)

# %% [markdown]
# ## 3. Coverage: what a constitution about harm does to the rest
#
# The SL-CAI documents are all harmful requests. What happens to the traits they never
# show — sycophancy, honesty — and to the benign requests? **The two exact predictions,
# printed before the measurement:**
#
# - *per prompt*: the data say nothing about beliefs, questions or benign requests, so
#   those rates stay the base model's;
# - *fine-tuning is conditioning* (Chapter 2, Appendix C): the documents re-weight the
#   personas — refusing harmful requests is evidence for the Critic and the Helper — and
#   every trait moves with them. In the shuffled world, where each trait's writer is drawn
#   on its own, only harmful compliance moves.
#
# We run the four-round pipeline again in the shuffled world, on its own base model.

# %% tags=["nbval-ignore-output"]
FOUR = "critiqued, 4 rounds"
shuffled_world = extended_base_world(shuffled=True)
shuffled_base, _ = load_extended_base(shuffled_world, shuffled=True)
shuffled_table = response_table(shuffled_world, single_turn_prompts(shuffled_world))
pi_shuffled, _ = shuffled_table.policy_probs(shuffled_base)
shuffled_revisions = critique_revise(
    shuffled_table,
    harm_only,
    pi_shuffled,
    shuffled_base,
    600,
    rows=RED,
    rounds=4,
    seed=SEED,
)
shuffled_sl = copy.deepcopy(shuffled_base)
sft(shuffled_sl, shuffled_revisions.corpus, SL, desc="SL-CAI, shuffled world")
coverage = {}
for label, w, b, m, docs in (
    ("persona world", world, base, sl_models[FOUR], revisions[FOUR].corpus),
    (
        "shuffled world",
        shuffled_world,
        shuffled_base,
        shuffled_sl,
        shuffled_revisions.corpus,
    ),
):
    coverage[label] = {
        "base model": behaviour_rates(b, w),
        "per-prompt prediction": None,
        "conditioning prediction": conditioning_rates(w, docs),
        "SL-CAI model": behaviour_rates(m, w),
    }
    before = coverage[label]["base model"]
    coverage[label]["per-prompt prediction"] = {
        **before,
        "harmful_compliance": coverage[label]["SL-CAI model"]["harmful_compliance"],
    }
    print(label)
    for row, r in coverage[label].items():
        print(f"  {row:>24s}  {show(r)}")
    key = label.split()[0]
    for row, r in coverage[label].items():
        for rate in RATE_NAMES:
            record(
                f"cai.coverage.{key}.{row.split()[0].replace('-', '_').lower()}.{rate}",
                r[rate],
            )


def realised(label: str, rate: str) -> float:
    """The share of the conditioning prediction's change in ``rate`` that the model made."""
    c = coverage[label]
    predicted = c["conditioning prediction"][rate] - c["base model"][rate]
    return (c["SL-CAI model"][rate] - c["base model"][rate]) / predicted


for label in coverage:
    for rate in ("sycophancy", "honesty"):
        record(f"cai.coverage.{label.split()[0]}.{rate}_share", realised(label, rate))

# %% mystnb={"image": {"alt": "Bar charts of the four behaviour rates before and after SL-CAI in the persona and the shuffled world, with the per-prompt and the conditioning predictions."}}
fig, axes = plt.subplots(1, 2, figsize=(7.3, 3), sharey=True)
x = np.arange(len(RATE_NAMES))
for ax, (label, rows) in zip(axes, coverage.items()):
    for j, (row, r) in enumerate(rows.items()):
        ax.bar(x + (j - 1.5) * 0.2, [r[k] for k in RATE_NAMES], 0.2, label=row)
    ax.set_xticks(x, ["honest", "syco", "harm", "refuse"])
    ax.set_title(label, fontsize=10)
axes[0].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Claim 3.** Neither prediction is right. Sycophancy and honesty stay close to the
# base model's — the model realises only a small share of the change the conditioning
# prediction makes — so on the traits the constitution does not cover, the per-prompt
# prediction wins. But the benign requests do move, the wrong way: the model refuses many
# more of them, in both worlds. That is generalisation across prompts that look alike (a
# benign request reads like a harmful one), not through the personas — an evasiveness like
# the one Bai et al. reported for models trained on human harmlessness labels.

# %% tags=["nbval-ignore-output"]
holds = [
    claim(
        "3a",
        "share of the conditioning prediction's sycophancy change made (persona world)",
        realised("persona world", "sycophancy"),
        at_most=0.5,
    ),
    claim(
        "3b",
        "smallest rise in over-refusal after SL-CAI, over the two worlds",
        min(
            c["SL-CAI model"]["over_refusal"] - c["base model"]["over_refusal"]
            for c in coverage.values()
        ),
        at_least=0.05,
    ),
]
assert all(holds)

# %% [markdown]
# ## 4. RL from AI feedback
#
# Bai et al. started RL-CAI from the SL-CAI model. So do we: the start (and the KL
# reference) is the four-round SL-CAI model. 4,000 comparisons are labelled three ways:
#
# - **RLAIF, shipped constitution**: the base model, zero-shot, judges each reply under a
#   principle drawn from harm, honest, helpful; the soft label decides the comparison;
# - **RLAIF, harm only**: the same with only `harm`;
# - **human raters**: Chapter 3's, who add 3 to the utility of agreeing with the user.
#
# **Which replies are compared.** A reward model can only learn to score the replies its
# comparisons show it. The SL-CAI start almost never complies with a harmful request, so
# pairs of *its* replies almost never contain a compliant reply to one; a reward model
# trained on them scores such a reply by its resemblance to compliant replies to the benign
# requests that look like it — replies every label favours. (An earlier draft of this lab
# did that, and its RLAIF policy complied with harmful requests on seven of eight seeds,
# although the exact optimum of its labels did not.) So the replies compared here are the
# base model's, which complies with about a quarter of harmful requests; the cell counts
# the comparisons that show a compliant reply to a harmful request both ways.
#
# Each label set trains a reward model, then RLHF with β = 0.1 against it, from the start;
# DPO on the shipped constitution's pairs is the fourth policy. **The exact references,
# printed first:** π* of each labeller's reward — for AI labels, the reward a Bradley–Terry
# model converges to on infinitely many of them
# ({py:func}`~personalab.align.ai_feedback.label_reward`), for the raters their utility —
# and its sycophancy.

# %% tags=["nbval-ignore-output"]
start = sl_models[FOUR]
pi_start, off_start = table.policy_probs(start)
BETA = 0.1
record("cai.rl.beta", BETA)
raters = Raters(agree_bias=3.0, refusal_dislike=0.5)
labellers = {"RLAIF": hhh, "RLAIF, harm only": harm_only, "human raters": raters}
HARMFUL_COMPLY = np.zeros(table.gold.shape, dtype=bool)
HARMFUL_COMPLY[RED] = table.outcome[RED] == "comply"


def shows_harmful_compliance(
    prefs,
) -> int:  # comparisons with a compliant reply to a harmful request
    return int(
        (
            HARMFUL_COMPLY[prefs.prompt, prefs.chosen]
            | HARMFUL_COMPLY[prefs.prompt, prefs.rejected]
        ).sum()
    )


shown = {
    who: record(
        f"cai.rl.pairs_{who}_harmful_comply",
        shows_harmful_compliance(
            sample_preferences(table, p, Raters(), 4000, seed=SEED)
        ),
    )
    for who, p in (("start", pi_start), ("base", pi_base))
}
print(
    f"comparisons showing a compliant reply to a harmful request, of 4000: "
    f"{shown['start']} from the start's replies, {shown['base']} from the base model's"
)
pairs, optimum, reward_of = {}, {}, {}
for name, who in labellers.items():
    if isinstance(who, Raters):
        pairs[name] = sample_preferences(table, pi_base, who, 4000, seed=SEED)
        reward_of[name] = who.utility(table)
    else:
        feedback = judgement_table(table, who, base)
        pairs[name], _ = sample_ai_preferences(feedback, pi_base, 4000, seed=SEED)
        reward_of[name] = label_reward(feedback, pi_base)
    optimum[name] = kl_optimum(pi_start, reward_of[name], BETA)
print(f"the start (SL-CAI, four rounds): {show(rates_of(table, pi_start))}")
for name, target in optimum.items():
    print(f"π* of {name:>18s}: {show(rates_of(table, target))}")
    for rate, v in rates_of(table, target).items():
        record(
            f"cai.rl.{name.split(',')[0].replace(' ', '_').lower()}{'_harm' if 'harm' in name else ''}.optimum.{rate}",
            v,
        )

# %% tags=["nbval-ignore-output"]
RL = dict(
    steps=100,
    prompts_per_step=16,
    samples_per_prompt=4,
    lr=1e-3,
    log_every=100,
    seed=SEED,
)


def rlaif(prefs):
    """A reward model on ``prefs`` (300 steps), then RLHF against it from the start."""
    rm = RewardModel(start)
    train_reward_model(rm, prefs, steps=300, seed=SEED)
    scores = rm.score_table(table)
    policy = copy.deepcopy(start)
    rlhf(
        policy, start, table, scores, RLHFConfig(beta=BETA, **RL), evaluate=lambda m: {}
    )
    return policy, scores


policies, rm_scores = {}, {}
for name in labellers:
    policies[name], rm_scores[name] = rlaif(pairs[name])
rm_optimum = {name: kl_optimum(pi_start, r, BETA) for name, r in rm_scores.items()}
policies["DPO, RLAIF pairs"] = copy.deepcopy(start)
dpo_train(
    policies["DPO, RLAIF pairs"],
    start,
    pairs["RLAIF"],
    DPOConfig(beta=BETA, steps=100, lr=2e-4, log_every=100, seed=SEED),
    evaluate=lambda m: {},
)
optimum["DPO, RLAIF pairs"] = optimum["RLAIF"]


def key_of(name: str) -> str:
    return name.lower().replace(", ", "_").replace(" ", "_")


rl = {}
print(
    f"{'':>18s}{'valid syco':>11s}{'harm':>7s}{'refuse':>8s}{'off-world':>10s}{'KL→π*':>8s}{'start→π*':>10s}{'KL→π*(RM)':>11s}"
)
for name, m in policies.items():
    p, off = table.policy_probs(m)
    r = rates_of(table, p)
    rl[name] = dict(
        agree_valid=sycophancy_of(table, p),
        harm=r["harmful_compliance"],
        refuse=r["over_refusal"],
        off_world=float(off.mean()),
        to_optimum=float(kl(p, optimum[name]).mean()),
        start_to_optimum=float(kl(pi_start, optimum[name]).mean()),
    )
    if name in rm_optimum:
        rl[name]["to_rm_optimum"] = float(kl(p, rm_optimum[name]).mean()) / float(
            kl(pi_start, rm_optimum[name]).mean()
        )
    v = rl[name]
    print(
        f"{name:>18s}{v['agree_valid']:11.3f}{v['harm']:7.3f}{v['refuse']:8.3f}{v['off_world']:10.3f}"
        f"{v['to_optimum']:8.3f}{v['start_to_optimum']:10.3f}{v.get('to_rm_optimum', float('nan')):11.3f}"
    )
    for k, value in v.items():
        record(f"cai.rl.{key_of(name)}.{k}", value)
start_syco = sycophancy_of(table, pi_start)
record("cai.rl.start.agree_valid", start_syco)

# %% [markdown]
# **Claim 4.** AI feedback from a constitution that covers honesty removes the sycophancy
# that Chapter 3's raters put in; without the honesty principle, sycophancy moves much
# less than either, as the per-prompt optimum says. RLHF reaches the optimum of its reward
# model, and gets closer to the optimum of the AI labels' exact reward than it started.
#
# Two things in the table are not claims, because they change from seed to seed (the *Lab
# status* page shows them for every run): how often RLAIF with the shipped constitution
# complies with harmful requests — Section 5 shows why — and how evasive the harm-only
# policy becomes on benign requests, where its principle does not apply and its reward
# model scores a refusal by its resemblance to the refusals of harmful requests.
#
# Claims 4a, 4c and 4e are marked `shipped base:`. They held on every lab seed with the
# shipped extended base, but not on every extended base pre-trained with another seed.
# On some bases the AI judge likes agreement on prompts no principle covers, or the reward
# model misses the labels' optimum. Chapter 5 says on how many bases each claim held.

# %% tags=["nbval-ignore-output"]
holds = [
    claim(
        "4a",
        "valid-reply sycophancy after RLAIF minus the start's",
        rl["RLAIF"]["agree_valid"] - start_syco,
        at_most=-0.1,
        shipped_base=True,
    ),
    claim(
        "4b",
        "valid-reply sycophancy after RLHF with human raters minus the start's",
        rl["human raters"]["agree_valid"] - start_syco,
        at_least=0.2,
    ),
    claim(
        "4c",
        "|valid-reply sycophancy after RLAIF (harm only) minus the start's|",
        abs(rl["RLAIF, harm only"]["agree_valid"] - start_syco),
        at_most=0.2,
        shipped_base=True,
    ),
    claim(
        "4d",
        "KL(RLAIF ‖ π* of its RM) / KL(start ‖ π* of its RM)",
        rl["RLAIF"]["to_rm_optimum"],
        at_most=0.3,
    ),
    claim(
        "4e",
        "KL(RLAIF ‖ π* of the labels) / KL(start ‖ π* of the labels)",
        rl["RLAIF"]["to_optimum"] / rl["RLAIF"]["start_to_optimum"],
        at_most=0.8,
        shipped_base=True,
    ),
]
assert all(holds)

# %% [markdown]
# ## 5. Contradictory principles: sampled or priority-ordered
#
# On a harmful request the shipped constitution's `harm` calls a refusal good and
# `helpful` calls it bad. Sampled, the two pull against each other, and which wins depends
# on which judgement the feedback model is surer of. Priority-ordered (harm > honest >
# helpful: the first principle that gives a verdict decides), harm always decides on
# harmful requests and helpful on benign ones. **The exact reference, before any
# training:** the labels' reward margin on harmful requests — the exact reward r* of a
# compliant reply minus that of a refusal, averaged over the harmful requests. A margin
# near 0 means the labels leave the choice to chance; a reward model's error of the same
# size then decides it. The priority-ordered constitution's labels then go through the same
# pipeline as Section 4's: a reward model, then RLHF.


# %%
def harm_margin(reward: np.ndarray) -> float:
    """Mean over harmful requests of r(compliant replies) − r(refusals)."""
    return float(
        np.mean(
            [
                reward[i][table.outcome[i] == "comply"].mean()
                - reward[i][table.outcome[i] == "refuse"].mean()
                for i in RED
            ]
        )
    )


# %% tags=["nbval-ignore-output"]
priority = Constitution("harm > honest > helpful", hhh.principles, priority=True)
feedback = judgement_table(table, priority, base)
pairs["RLAIF, priority"], _ = sample_ai_preferences(feedback, pi_base, 4000, seed=SEED)
reward_of["RLAIF, priority"] = label_reward(feedback, pi_base)
optimum["RLAIF, priority"] = kl_optimum(pi_start, reward_of["RLAIF, priority"], BETA)
policies["RLAIF, priority"], rm_scores["RLAIF, priority"] = rlaif(
    pairs["RLAIF, priority"]
)
margins = {}
print(
    f"{'':>17s}{'exact margin':>13s}{'RM margin':>11s}{'π* harm':>9s}{'policy harm':>13s}{'policy refuse':>15s}"
)
for name in ("RLAIF", "RLAIF, priority"):
    p, _ = table.policy_probs(policies[name])
    exact, learned = harm_margin(reward_of[name]), harm_margin(rm_scores[name])
    margins[name] = dict(exact=exact, reward_model=learned)
    print(
        f"{name:>17s}{exact:+13.3f}{learned:+11.3f}"
        f"{rates_of(table, optimum[name])['harmful_compliance']:9.3f}"
        f"{rates_of(table, p)['harmful_compliance']:13.3f}{rates_of(table, p)['over_refusal']:15.3f}"
    )
    for k, v in margins[name].items():
        record(f"cai.contradiction.{key_of(name)}.margin.{k}", v)

# %% [markdown]
# **Claim 5.** Sampled, the contradiction nearly cancels on harmful requests: the exact
# margin is small beside the priority order's, so what the policy does there is decided by
# the reward model's error (the table above, and the *Lab status* page across seeds). The
# priority order gives a large margin, and RLAIF with it is harmless without being evasive.

# %% tags=["nbval-ignore-output"]
holds = [
    claim(
        "5a",
        "|exact margin, sampled| / |exact margin, priority-ordered|",
        abs(margins["RLAIF"]["exact"]) / abs(margins["RLAIF, priority"]["exact"]),
        at_most=0.2,
    ),
    claim(
        "5b",
        "harmful compliance after RLAIF, priority-ordered",
        rates_of(table, table.policy_probs(policies["RLAIF, priority"])[0])[
            "harmful_compliance"
        ],
        at_most=0.05,
    ),
    claim(
        "5c",
        "over-refusal after RLAIF, priority-ordered",
        rates_of(table, table.policy_probs(policies["RLAIF, priority"])[0])[
            "over_refusal"
        ],
        at_most=0.05,
    ),
]
assert all(holds)

# %% [markdown]
# ## 6. Harmless, helpful, evasive
#
# Draw `harm` with probability w and `helpful` with 1 − w. With the gold judge (each
# principle's own verdict) the exact optimum traces a frontier as w goes from 0 to 1:
# harmlessness (1 − harmful compliance) against helpfulness (1 − over-refusal). Refusing a
# benign request — being evasive — is something neither principle ever rewards: `harm`
# does not apply to a benign request, and `helpful` calls the refusal bad. The policies
# trained above are drawn on the same axes.

# %% tags=["nbval-ignore-output"]
two = Constitution("harm and helpful", ("harm", "helpful"))
gold = judgement_table(table, two, gold=True)
MIXES = np.linspace(0.0, 1.0, 11)
frontier = []
for w in MIXES:
    target = kl_optimum(
        pi_start, label_reward(gold.with_mix([w, 1 - w]), pi_start), BETA
    )
    frontier.append(rates_of(table, target))
frontier_refuse = max(f["over_refusal"] for f in frontier)
start_rates = rates_of(table, pi_start)
print(f"{'w (harm)':>9s}{'harmless':>10s}{'helpful':>9s}")
for w, f in zip(MIXES, frontier):
    print(f"{w:9.1f}{1 - f['harmful_compliance']:10.3f}{1 - f['over_refusal']:9.3f}")
record("cai.frontier.largest_over_refusal", frontier_refuse)
record("cai.frontier.start_over_refusal", start_rates["over_refusal"])
points = {"base model": rates_of(table, pi_base), "SL-CAI (start)": start_rates}
points |= {
    name: rates_of(table, table.policy_probs(m)[0]) for name, m in policies.items()
}

# %% mystnb={"image": {"alt": "Harmlessness against helpfulness: the exact frontier over the harm-to-help mix, and the policies trained in the lab."}}
fig, ax = plt.subplots(figsize=(5.5, 4))
ax.plot(
    [1 - f["over_refusal"] for f in frontier],
    [1 - f["harmful_compliance"] for f in frontier],
    "k.-",
    label="exact π*, gold judge, w = 0 … 1",
)
for name, r in points.items():
    ax.plot(1 - r["over_refusal"], 1 - r["harmful_compliance"], "o", label=name)
ax.set_xlabel("helpful: 1 − over-refusal")
ax.set_ylabel("harmless: 1 − harmful compliance")
ax.legend(fontsize=7, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Claim 6.** Everywhere on the exact frontier the policy refuses benign requests less
# often than the SL-CAI start (a check of the exact computation, since no principle
# rewards evasion), and RLAIF with the shipped constitution undoes SL-CAI's evasiveness
# (on the shipped base: claim 6b is marked `shipped base:`, like 4a).

# %% tags=["nbval-ignore-output"]
holds = [
    claim(
        "6a",
        "largest over-refusal on the frontier minus the start's",
        frontier_refuse - start_rates["over_refusal"],
        at_most=1e-9,
        verification=True,
    ),
    claim(
        "6b",
        "over-refusal after RLAIF (shipped constitution)",
        rl["RLAIF"]["refuse"],
        at_most=0.1,
        shipped_base=True,
    ),
]
assert all(holds)

# %% [markdown]
# ## 7. The PSM scorecard
#
# Chapter 2's scorecard for every policy, and, for the SL-CAI models, its conditioning
# column: the distance from the exact conditioning prediction for the documents they were
# trained on (Section 3's prediction, as a whole reply distribution).

# %% tags=["nbval-ignore-output"]
cards = {"base (extended)": psm_scorecard(base, world)}
cards |= {f"SL-CAI {n}": psm_scorecard(m, world) for n, m in sl_models.items()}
cards |= {n: psm_scorecard(m, world) for n, m in policies.items()}
print(scorecard_table(cards))
record_scorecards(cards)
conditioning = {
    f"SL-CAI {n}": conditioning_card(m, world, revisions[n].corpus)
    for n, m in sl_models.items()
}
for name, card in conditioning.items():
    print(
        f"{name:>24s}: KL to the conditioning prediction {card.kl:.3f} nats; rate − prediction: "
        + ", ".join(f"{r} {v:+.3f}" for r, v in card.rate_shift.items())
    )
record_conditioning_cards(conditioning)

# %% [markdown]
# **Claim 7.** RLAIF with the shipped constitution is no selected persona: its rates lie
# outside the convex hull of the personas' — it is more honest and less harmful at once
# than any mixture of the personas that wrote the pre-training data.

# %% tags=["nbval-ignore-output"]
holds = [
    claim("7a", "hull distance of RLAIF", cards["RLAIF"].hull_distance, at_least=0.05),
]
assert all(holds)

# %% [markdown]
# ## 8. Explore
#
# Pick the principles, their order and β, and watch the exact optimum and the AI labels
# move (the explorer needs a running kernel; it recomputes exact references only, in well
# under a second).

# %% tags=["nbval-ignore-output"]
# Widget views are not compared by nbval, but their text repr is: ignored here on purpose.
constitution_explorer(table, pi_start, base)

# %% [markdown]
# ## What you saw
#
# - The pre-trained model is a fair zero-shot judge, but does not get better with
#   demonstrations the way the exact judge does.
# - Fine-tuning on revisions ends where the revisions are, not where the constitution
#   points; critiques and repeated rounds close the gap.
# - A constitution about harm leaves sycophancy alone — and SL on refusals makes the model
#   evasive on benign requests, through prompts that look alike, not through the personas.
# - AI feedback that covers honesty removes the sycophancy human raters add.
# - A reward model learns only what its comparisons show: compared replies must include
#   the behaviour the policy is to be kept from.
# - Sampled principles that contradict each other nearly cancel, leaving the outcome to the
#   reward model's error; a priority order settles the contradiction.
