// The demo tool the chat offers the model when its toggle is on: `roll_dice`,
// run here in the page. Its result goes back to the model as a `toolResult`
// part of the next request (PRODUCT.md, "Conversations").

import type { ToolCallPart, ToolResultPart, ToolSpec } from './types';

export const ROLL_DICE: ToolSpec = {
  name: 'roll_dice',
  description: 'Roll a fair die with the given number of sides and return the number rolled.',
  inputSchema: {
    type: 'object',
    properties: { sides: { type: 'integer', description: 'How many sides the die has, at least 1.' } },
    required: ['sides'],
  },
};

export const DEMO_TOOLS: ToolSpec[] = [ROLL_DICE];

const MAX_SIDES = 1_000_000;

/** Run one call of a demo tool; a failure is a result with `isError`. */
export function runTool(call: ToolCallPart): ToolResultPart {
  try {
    switch (call.name) {
      case ROLL_DICE.name:
        return { type: 'toolResult', toolCallId: call.id, content: rollDice(call.input) };
      default:
        throw new Error(`there is no tool named ${JSON.stringify(call.name)}`);
    }
  } catch (e) {
    return { type: 'toolResult', toolCallId: call.id, content: e instanceof Error ? e.message : String(e), isError: true };
  }
}

function rollDice(input: unknown): string {
  const sides = (input as { sides?: unknown } | null)?.sides;
  if (typeof sides !== 'number' || !Number.isInteger(sides) || sides < 1 || sides > MAX_SIDES) {
    throw new Error(`sides must be a whole number from 1 to ${MAX_SIDES}`);
  }
  const roll = 1 + (crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) % sides;
  return JSON.stringify({ sides, roll });
}
