import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import * as common from "@zxcvbn-ts/language-common";
import * as english from "@zxcvbn-ts/language-en";
import { SpillwayError } from "../errors/index.js";

export const passwordMinLength = 8;
export const passwordMaxLength = 256;

/**
 * NIST SP 800-63B: 8 to 256 characters of any kind, no composition rules,
 * and common or guessable passwords refused, with the reason.
 */
export class PasswordPolicy {
  readonly #zxcvbn = new ZxcvbnFactory({
    translations: english.translations,
    graphs: common.adjacencyGraphs,
    dictionary: { ...common.dictionary, ...english.dictionary },
    maxLength: passwordMaxLength,
  });
  readonly #minScore: number;

  constructor(minScore: number) {
    this.#minScore = minScore;
  }

  /** Throws AUTH_PASSWORD_WEAK with the reason; `related` are the user's own words (email, name). */
  check(password: string, related: readonly string[] = []): void {
    const length = [...password].length;
    if (length < passwordMinLength) {
      throw weak(`Use at least ${passwordMinLength} characters.`, "too_short");
    }
    if (length > passwordMaxLength) {
      throw weak(`Use at most ${passwordMaxLength} characters.`, "too_long");
    }
    const result = this.#zxcvbn.check(password, [...related]);
    if (result.score < this.#minScore) {
      const reason = result.feedback.warning || "This password is easy to guess.";
      const hint = result.feedback.suggestions[0] ?? "Add another word or two.";
      throw weak(`${reason} ${hint}`.trim(), "guessable", result.score);
    }
  }
}

function weak(message: string, reason: string, score?: number): SpillwayError {
  return new SpillwayError("AUTH_PASSWORD_WEAK", {
    message: `The password is too weak: ${message}`,
    details: score === undefined ? { reason } : { reason, score },
  });
}
