"""The thresholds every finding is judged by (README: "Diagnostics")."""

VANISHING_RATIO = 1e-2        # first hidden layer gets ≥ 100× less mean |dL/dW| than the last hidden one
EXPLODING_RATIO = 1e2         # ... or ≥ 100× more: the gradient grows toward the input
EXPLODING_GRAD = 1.0          # median layer's mean |dL/dW| ≥ 1: "gradients consistently above 1.0"
GRADIENT_WINDOW = 50          # steps: medians over the last 50 steps, since one batch is noisy
PLATEAU_WINDOW = 200          # steps over which the loss is judged flat or falling
PLATEAU_MIN_STEPS = 100       # fewer steps than this: too early to call a plateau
PLATEAU_REL_CHANGE = 0.02     # loss falls < 2 % from the window's first quarter to its last: flat
POOR_ACCURACY = 0.8           # training accuracy below this is "poor"
CONVERGED_LOSS = 0.1          # training loss (nats) at or below this ...
CONVERGED_ACCURACY = 0.95     # ... with accuracy at or above this: converged
WORSE_ACCURACY = 0.05         # deeper net's training accuracy ≥ 5 points lower than the shallower's, or
WORSE_LOSS = 0.05             # its training loss ≥ 0.05 nats and ≥ 10 % higher: it trains worse
WORSE_LOSS_REL = 0.10
SIGMOID_LOW, SIGMOID_HIGH = 0.01, 0.99   # saturated sigmoid output (σ′ < 0.0099 there)
TANH_LIMIT = 0.99                         # saturated |tanh| (tanh′ < 0.02 there)
SATURATED_LAYER = 0.5         # a layer with ≥ 50 % of its outputs saturated is a saturated layer
DEAD_LAYER = 0.5              # a layer with ≥ 50 % dead units is a dead layer
SPREAD_FLOOR = 1e-3           # a unit whose output varies less than this across the batch carries no signal
ABLATION_SMALL_DROP = 0.02    # re-initialising the first k layers costs < 2 points: they were not learning
ABLATION_ABOVE_CHANCE = 0.10  # ... judged only when the net is ≥ 10 points above chance
UPDATE_RULE_OF_THUMB = 1e-3   # ‖ΔW‖/‖W‖ per step of a layer that learns at a healthy pace
UPDATE_SLOW = 1e-5            # 100× below: the layer barely moves
UPDATE_FAST = 1e-1            # 100× above: each step rewrites a tenth of the weights
FLOAT32_RESOLUTION = 6e-8     # half float32's epsilon: a smaller relative update is rounded away
FORWARD_COLLAPSE = 1e-2       # the last hidden layer's output std ≤ 1/100 of the first's: the signal collapses
FORWARD_BLOWUP = 1e2          # ... ≥ 100×: it blows up
