// Plain JavaScript on purpose: it also runs in a worker thread, which loads
// it without the TypeScript loader (src/ and dist/ alike).
import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import * as common from "@zxcvbn-ts/language-common";
import * as english from "@zxcvbn-ts/language-en";

/**
 * zxcvbn-ts with the English and common dictionaries (a few ms per password).
 * @param {number} maxLength
 * @returns {(password: string, related: string[]) => {score: number, warning: string, suggestion: string | undefined}}
 */
export function strengthEstimator(maxLength) {
  const zxcvbn = new ZxcvbnFactory({
    translations: english.translations,
    graphs: common.adjacencyGraphs,
    dictionary: { ...common.dictionary, ...english.dictionary },
    maxLength,
  });
  return (password, related) => {
    const result = zxcvbn.check(password, related);
    return {
      score: result.score,
      warning: result.feedback.warning ?? "",
      suggestion: result.feedback.suggestions[0],
    };
  };
}
