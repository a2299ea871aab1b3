"""Memory semantics of the Stack-RNN and the Tape-RNN.

Defined in docs/benchmark.md#stack-rnn and docs/benchmark.md#tape-rnn.
"""

from __future__ import annotations

import pytest
import torch

from prlstm.models.stack_rnn import StackRNN, stack_update
from prlstm.models.tape_rnn import (
    ACTIONS,
    TapeRNN,
    action_offsets,
    move_index,
    shift_matrices,
    tape_update,
)

PUSH, POP, NOOP = torch.eye(3)


def probs(row: torch.Tensor, B: int = 1) -> torch.Tensor:
    return row.expand(B, -1)


def test_stack_push_pop_noop() -> None:
    N, c = 4, 2
    stack = torch.zeros(1, N, c)
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])
    stack = stack_update(stack, probs(PUSH), a)
    stack = stack_update(stack, probs(PUSH), b)
    assert torch.equal(stack[0], torch.tensor([[3.0, 4.0], [1.0, 2.0], [0, 0], [0, 0]]))
    same = stack_update(stack, probs(NOOP), torch.full((1, c), 9.0))
    assert torch.equal(same, stack)  # no-op ignores the push value
    popped = stack_update(stack, probs(POP), torch.full((1, c), 9.0))
    assert torch.equal(popped[0], torch.tensor([[1.0, 2.0], [0, 0], [0, 0], [0, 0]]))
    empty = stack_update(popped, probs(POP), torch.zeros(1, c))
    assert torch.equal(empty, torch.zeros(1, N, c))


def test_stack_overflow_drops_the_bottom_and_pop_fills_zero() -> None:
    stack = torch.arange(1.0, 4.0).reshape(1, 3, 1)  # top 1, 2, bottom 3
    pushed = stack_update(stack, probs(PUSH), torch.tensor([[0.5]]))
    assert pushed.flatten().tolist() == [0.5, 1.0, 2.0]
    popped = stack_update(stack, probs(POP), torch.tensor([[0.5]]))
    assert popped.flatten().tolist() == [2.0, 3.0, 0.0]


def test_stack_soft_mixture() -> None:
    stack = torch.tensor([[[1.0], [2.0], [3.0]]])
    p = torch.tensor([[0.2, 0.3, 0.5]])
    out = stack_update(stack, p, torch.tensor([[10.0]]))
    # top: 0.2·10 + 0.3·S[1] + 0.5·S[0]; cell 1: 0.2·S[0] + 0.3·S[2] + 0.5·S[1]; ...
    expected = [0.2 * 10 + 0.3 * 2 + 0.5 * 1, 0.2 * 1 + 0.3 * 3 + 0.5 * 2, 0.2 * 2 + 0 + 0.5 * 3]
    torch.testing.assert_close(out.flatten(), torch.tensor(expected))


def test_stack_rnn_reads_the_top_cell() -> None:
    # Force "push" with a constant push value; the controller then sees that value as its
    # read at the next step, so step 2's output depends on the push head's bias.
    torch.manual_seed(0)
    core = StackRNN(2, 2, hidden_size=4, stack_cell_size=2, stack_size=3).double()
    x = torch.nn.functional.one_hot(torch.tensor([[0, 1, 0]]), 2).double()
    with torch.no_grad():
        core.action.weight.zero_()
        core.action.bias.copy_(torch.tensor([50.0, -50.0, -50.0]))  # push
        core.push.weight.zero_()
        h_a = core.hidden(x)
        core.push.bias.fill_(1.0)
        h_b = core.hidden(x)
    torch.testing.assert_close(h_a[:, 0], h_b[:, 0])  # the stack starts empty
    assert not torch.allclose(h_a[:, 1], h_b[:, 1])
    # step 1: h = relu(W_x x + b + W_r·top + W_h h_0) with top = the pushed [1, 1]
    w_r = core.controller.input_to_hidden.weight[:, 2:]  # read part of the input weights
    expected = torch.relu(core.controller.project_inputs(x)[:, 1] + w_r.sum(1)
                          + h_b[:, 0] @ core.controller.hidden_to_hidden.weight.T)
    torch.testing.assert_close(h_b[:, 1], expected)


def test_tape_item_75_jump_right() -> None:
    M, T, c = 40, 5, 3
    tape = torch.randn(1, M, c)
    write = torch.zeros(1, c)
    write[0, 1] = 1.0  # one-hot write value
    jump_right = torch.zeros(1, 5)
    jump_right[0, ACTIONS.index("jump_right")] = 1.0
    new = tape_update(tape, write, jump_right, input_length=T)
    written = tape.clone()
    written[:, 0] = write
    for i in range(M):
        assert torch.equal(new[0, i], written[0, (i - 5) % M])
    assert torch.equal(new[0, 5], write[0])  # write first, then move: the value is at 5


@pytest.mark.parametrize(("action", "delta"),
                         [("stay", 0), ("left", 1), ("right", -1), ("jump_left", 7),
                          ("jump_right", -7)])
def test_tape_moves(action: str, delta: int) -> None:
    M, T = 6, 7  # T > M: jumps wrap around the circular tape
    tape = torch.arange(float(M)).reshape(1, M, 1)
    p = torch.zeros(1, 5)
    p[0, ACTIONS.index(action)] = 1.0
    new = tape_update(tape, torch.tensor([[-1.0]]), p, input_length=T)
    written = tape.clone()
    written[0, 0] = -1.0
    assert new.flatten().tolist() == [written[0, (i + delta) % M, 0].item() for i in range(M)]
    assert action_offsets(T)[ACTIONS.index(action)] == delta
    assert move_index(M, T)[ACTIONS.index(action)].tolist() == [(i + delta) % M for i in range(M)]
    assert torch.equal(shift_matrices(M, T)[ACTIONS.index(action)] @ written[0], new[0])


def test_tape_soft_mixture() -> None:
    tape = torch.randn(2, 5, 2)
    write = torch.randn(2, 2)
    p = torch.softmax(torch.randn(2, 5), -1)
    new = tape_update(tape, write, p, input_length=3)
    written = tape.clone()
    written[:, 0] = write
    expected = sum(p[:, a, None, None] * torch.roll(written, -d, dims=1)
                   for a, d in enumerate(action_offsets(3)))
    torch.testing.assert_close(new, expected)


def test_tape_rnn_uses_input_length() -> None:
    torch.manual_seed(0)
    core = TapeRNN(2, 2, hidden_size=6, memory_cell_size=2, memory_size=9,
                   mlp_layers_size=(4,)).double().eval()
    x = torch.nn.functional.one_hot(torch.randint(0, 2, (2, 8)), 2).double()
    with torch.no_grad():
        a, b, c = core(x, input_length=2), core(x, input_length=3), core(x)
    assert not torch.allclose(a, b)
    torch.testing.assert_close(c, core(x, input_length=8))
    # a jump moves the written value off the head, so T first matters at step 2
    assert torch.equal(a[:, :2], b[:, :2])
