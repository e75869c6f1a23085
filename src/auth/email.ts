import { domainToASCII } from "node:url";
import { SpillwayError } from "../errors/index.js";

const localPart = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * The email rule: trimmed, Unicode NFC, lower-cased as a whole (so addresses
 * differing only in case are one account); local part of the RFC 5322
 * dot-atom characters, at most 64; domain of at least two labels (letters,
 * digits, hyphens; internationalised names are stored as punycode), a
 * non-numeric top-level label; at most 254 characters in all. Quoted local
 * parts and IP-literal domains are refused.
 */
export function normaliseEmail(input: string): string {
  const email = input.trim().normalize("NFC").toLowerCase();
  const at = email.lastIndexOf("@");
  if (at <= 0 || at === email.length - 1) throw invalid();
  const local = email.slice(0, at);
  const domain = domainToASCII(email.slice(at + 1));
  if (local.length > 64 || !localPart.test(local) || domain === "") throw invalid();
  const labels = domain.split(".");
  const tld = labels[labels.length - 1] ?? "";
  if (labels.length < 2 || !labels.every((l) => label.test(l)) || /^\d+$/.test(tld)) {
    throw invalid();
  }
  const normalised = `${local}@${domain}`;
  if (normalised.length > 254) throw invalid();
  return normalised;
}

function invalid(): SpillwayError {
  return new SpillwayError("AUTH_EMAIL_INVALID");
}
