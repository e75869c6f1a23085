import { describe, expect, it } from "vitest";
import { repeatedKey } from "./json-body.js";

describe("repeatedKey", () => {
  it.each([
    '{"email":"a","password":"b"}',
    '{"a":{"a":1},"b":[{"a":1},{"a":2}]}',
    '{"a":"\\"a\\":","b":"a"}',
    '[1,"a","a"]',
    "{}",
    '"a"',
  ])("%s has no repeated key", (text) => {
    expect(repeatedKey(text)).toBeUndefined();
  });

  it.each([
    ['{"email":"a","email":"b"}', "email"],
    ['{ "email" : "a" ,\n "email"\t: "b" }', "email"],
    ['{"a":1,"\\u0061":2}', "a"],
    ['{"\\"":1,"\\u0022":2}', '"'],
    ['{"x":{"y":1,"y":2}}', "x.y"],
    ['{"list":[{"c":1},{"c":1,"c":2}]}', "list.1.c"],
    ['[[],{"a":1},{"b":1,"b":2}]', "2.b"],
  ])("%s repeats %s", (text, path) => {
    expect(repeatedKey(text)).toBe(path);
  });
});
