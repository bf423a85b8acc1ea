"""Adam: adaptive moment estimation (as torch.optim.Adam, without amsgrad)."""

from course_lib.optim.optimizer import Optimizer, refuse_options


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t = 1, 2, ...:

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g          (m and v start at zero)
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)   (undo the pull towards zero)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    torch's signature; amsgrad, maximize, differentiable, fused and decoupled_weight_decay accept only
    their defaults (False, or None for fused); foreach and capturable (implementation choices) any value.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        refuse_options("Adam", amsgrad=amsgrad, maximize=maximize, differentiable=differentiable, fused=fused,
                       decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def step(self):
        """Update every parameter's .data in place from its .grad (shapes: those of the parameters)."""
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        for p in self.params:
            grad = p.grad + self.weight_decay * p.data
            state = self.state[p]
            state["step"] = state.get("step", 0) + 1
            t = state["step"]
            state["exp_avg"] = beta1 * state.get("exp_avg", 0) + (1 - beta1) * grad
            state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", 0) + (1 - beta2) * grad**2
            m_hat = state["exp_avg"] / (1 - beta1**t)
            v_hat = state["exp_avg_sq"] / (1 - beta2**t)
            p.data -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
        ### END SOLUTION
