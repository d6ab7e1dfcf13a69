/**
 * Filter expressions over items, evaluated in memory: the subset of DynamoDB's condition and filter
 * expression syntax a restore selects items with. No maintained npm library evaluates this syntax
 * in memory (the ones that exist build expressions to send to DynamoDB), so this is a small
 * recursive-descent parser and evaluator.
 *
 * Grammar (keywords case-insensitive; precedence low to high: OR, AND, NOT, the rest):
 * ```
 * condition  ::= disjunct (OR disjunct)*
 * disjunct   ::= conjunct (AND conjunct)*
 * conjunct   ::= NOT conjunct | '(' condition ')' | predicate
 * predicate  ::= operand comparator operand          comparator: = <> < <= > >=
 *              | operand BETWEEN operand AND operand
 *              | operand IN '(' operand (',' operand)* ')'
 *              | attribute_exists(path) | attribute_not_exists(path)
 *              | attribute_type(path, :type) | begins_with(path, operand) | contains(path, operand)
 * operand    ::= path | :value | size(path)
 * path       ::= name ('.' name | '[' digits ']')*      name: an identifier or a #placeholder
 * ```
 * Values are DynamoDB JSON (`{":v": {"S": "x"}}`, as the AWS CLI's `--expression-attribute-values`),
 * names (`{"#s": "status"}`) as `--expression-attribute-names`. Comparisons of values of different
 * types are false (`<>`: true), as in DynamoDB; a missing attribute compares false (`<>`: true).
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html
 */

import { ValidationError } from '../errors.ts';
import type { AttributeValue, Item } from './attribute-value.ts';
import { canonicalItemJson } from './item.ts';

/** What a filter is given besides its text: the values and names its placeholders stand for. */
export interface FilterInput {
  expression: string;
  /** `:name` → a value in DynamoDB JSON. */
  values?: Record<string, AttributeValue> | undefined;
  /** `#name` → an attribute name. */
  names?: Record<string, string> | undefined;
}

/** A compiled filter: whether an item passes. */
export type ItemFilter = (item: Item) => boolean;

type PathStep = string | number;
type Operand =
  | { kind: 'path'; path: PathStep[] }
  | { kind: 'value'; value: AttributeValue }
  | { kind: 'size'; path: PathStep[] };
type Node =
  | { kind: 'or' | 'and'; left: Node; right: Node }
  | { kind: 'not'; inner: Node }
  | { kind: 'compare'; op: string; left: Operand; right: Operand }
  | { kind: 'between'; operand: Operand; low: Operand; high: Operand }
  | { kind: 'in'; operand: Operand; list: Operand[] }
  | { kind: 'call'; name: string; path: PathStep[]; arg?: Operand };

interface Token {
  type: 'name' | 'value' | 'placeholder' | 'number' | 'punct' | 'end';
  text: string;
  /** 1-based character position in the expression. */
  pos: number;
}

const TOKEN =
  /\s*(?:(<>|<=|>=|=|<|>|\(|\)|,|\.|\[|\])|(:[A-Za-z0-9_]+)|(#[A-Za-z0-9_]+)|([0-9]+)|([A-Za-z_][A-Za-z0-9_-]*))/y;

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < expression.length) {
    if (/^\s*$/.test(expression.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(expression);
    if (!m) {
      const pos = at + (expression.slice(at).length - expression.slice(at).trimStart().length) + 1;
      throw filterError(`unexpected character '${expression[pos - 1]}'`, pos);
    }
    const text = m[0].trimStart();
    const pos = m.index + m[0].length - text.length + 1;
    const type = m[1] ? 'punct' : m[2] ? 'value' : m[3] ? 'placeholder' : m[4] ? 'number' : 'name';
    tokens.push({ type, text, pos });
    at = TOKEN.lastIndex;
  }
  tokens.push({ type: 'end', text: 'the end', pos: expression.length + 1 });
  return tokens;
}

function filterError(message: string, pos: number): ValidationError {
  return new ValidationError(`${message} at position ${pos}`, 'filter');
}

const FUNCTIONS = new Set([
  'attribute_exists',
  'attribute_not_exists',
  'attribute_type',
  'begins_with',
  'contains',
]);
const COMPARATORS = new Set(['=', '<>', '<', '<=', '>', '>=']);
const TYPES = new Set(['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'NULL', 'BOOL']);

class Parser {
  #tokens: Token[];
  #i = 0;
  readonly #input: FilterInput;

  constructor(input: FilterInput) {
    this.#input = input;
    this.#tokens = tokenize(input.expression);
  }

  parse(): Node {
    if (this.#peek().type === 'end') throw filterError('empty filter', 1);
    const node = this.#condition();
    const rest = this.#peek();
    if (rest.type !== 'end') throw filterError(`unexpected '${rest.text}'`, rest.pos);
    return node;
  }

  #peek(): Token {
    return this.#tokens[this.#i] as Token;
  }
  #next(): Token {
    const t = this.#peek();
    if (t.type !== 'end') this.#i += 1;
    return t;
  }
  #isKeyword(word: string): boolean {
    const t = this.#peek();
    return t.type === 'name' && t.text.toUpperCase() === word;
  }
  #expect(text: string): Token {
    const t = this.#next();
    if (t.text !== text) throw filterError(`expected '${text}', found '${t.text}'`, t.pos);
    return t;
  }

  #condition(): Node {
    let left = this.#disjunct();
    while (this.#isKeyword('OR')) {
      this.#next();
      left = { kind: 'or', left, right: this.#disjunct() };
    }
    return left;
  }

  #disjunct(): Node {
    let left = this.#conjunct();
    while (this.#isKeyword('AND')) {
      this.#next();
      left = { kind: 'and', left, right: this.#conjunct() };
    }
    return left;
  }

  #conjunct(): Node {
    if (this.#isKeyword('NOT')) {
      this.#next();
      return { kind: 'not', inner: this.#conjunct() };
    }
    if (this.#peek().text === '(') {
      this.#next();
      const inner = this.#condition();
      this.#expect(')');
      return inner;
    }
    return this.#predicate();
  }

  #predicate(): Node {
    const t = this.#peek();
    const fn = t.type === 'name' ? t.text.toLowerCase() : '';
    if (FUNCTIONS.has(fn) && this.#tokens[this.#i + 1]?.text === '(') return this.#call(fn);
    const operand = this.#operand();
    const op = this.#peek();
    if (op.type === 'punct' && COMPARATORS.has(op.text)) {
      this.#next();
      return { kind: 'compare', op: op.text, left: operand, right: this.#operand() };
    }
    if (this.#isKeyword('BETWEEN')) {
      this.#next();
      const low = this.#operand();
      if (!this.#isKeyword('AND'))
        throw filterError(`expected 'AND', found '${this.#peek().text}'`, this.#peek().pos);
      this.#next();
      return { kind: 'between', operand, low, high: this.#operand() };
    }
    if (this.#isKeyword('IN')) {
      this.#next();
      this.#expect('(');
      const list = [this.#operand()];
      while (this.#peek().text === ',') {
        this.#next();
        list.push(this.#operand());
      }
      this.#expect(')');
      return { kind: 'in', operand, list };
    }
    throw filterError(`expected a comparator, BETWEEN or IN, found '${op.text}'`, op.pos);
  }

  #call(name: string): Node {
    this.#next();
    this.#expect('(');
    const path = this.#path();
    let arg: Operand | undefined;
    if (name === 'attribute_type' || name === 'begins_with' || name === 'contains') {
      this.#expect(',');
      const at = this.#peek().pos;
      arg = this.#operand();
      if (name === 'attribute_type') {
        const type = arg.kind === 'value' && 'S' in arg.value ? arg.value.S : undefined;
        if (!type || !TYPES.has(type))
          throw filterError('attribute_type needs a value of S naming a type', at);
      }
    }
    this.#expect(')');
    return { kind: 'call', name, path, ...(arg ? { arg } : {}) };
  }

  #operand(): Operand {
    const t = this.#peek();
    if (t.type === 'value') {
      this.#next();
      const value = this.#input.values?.[t.text];
      if (!value) throw filterError(`no value given for '${t.text}'`, t.pos);
      return { kind: 'value', value };
    }
    if (t.type === 'name' && t.text.toLowerCase() === 'size' && this.#tokens[this.#i + 1]?.text === '(') {
      this.#next();
      this.#expect('(');
      const path = this.#path();
      this.#expect(')');
      return { kind: 'size', path };
    }
    return { kind: 'path', path: this.#path() };
  }

  #name(): string {
    const t = this.#next();
    if (t.type === 'placeholder') {
      const name = this.#input.names?.[t.text];
      if (name === undefined) throw filterError(`no name given for '${t.text}'`, t.pos);
      return name;
    }
    if (t.type !== 'name') throw filterError(`expected an attribute name, found '${t.text}'`, t.pos);
    return t.text;
  }

  #path(): PathStep[] {
    const path: PathStep[] = [this.#name()];
    for (;;) {
      const t = this.#peek();
      if (t.text === '.') {
        this.#next();
        path.push(this.#name());
      } else if (t.text === '[') {
        this.#next();
        const index = this.#next();
        if (index.type !== 'number')
          throw filterError(`expected a list index, found '${index.text}'`, index.pos);
        path.push(Number(index.text));
        this.#expect(']');
      } else return path;
    }
  }
}

// ---- evaluation

function resolve(item: Item, path: readonly PathStep[]): AttributeValue | undefined {
  let value: AttributeValue | undefined = { M: item };
  for (const step of path) {
    const at: AttributeValue | undefined = value;
    if (at === undefined) return undefined;
    if (typeof step === 'number') value = 'L' in at ? (at as { L: AttributeValue[] }).L[step] : undefined;
    else value = 'M' in at ? at.M[step] : undefined;
  }
  return value;
}

function typeOf(value: AttributeValue): string {
  return Object.keys(value)[0] as string;
}

/** Compare two decimal strings as numbers (DynamoDB numbers have up to 38 digits: no float rounding). */
export function compareDecimals(a: string, b: string): number {
  const parse = (s: string) => {
    const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s.trim());
    if (!m) return { sign: 0, digits: '', exp: 0 };
    const intPart = m[2] ?? '';
    const frac = m[3] ?? '';
    const all = (intPart + frac).replace(/^0+/, '');
    if (all === '') return { sign: 0, digits: '', exp: 0 };
    // value = 0.digits × 10^exp
    const lead = (intPart + frac).length - all.length;
    const exp = intPart.length - lead + Number(m[4] ?? 0);
    return { sign: m[1] === '-' ? -1 : 1, digits: all.replace(/0+$/, ''), exp };
  };
  const x = parse(a);
  const y = parse(b);
  if (x.sign !== y.sign) return x.sign - y.sign;
  if (x.sign === 0) return 0;
  let magnitude = x.exp - y.exp;
  if (magnitude === 0) {
    const width = Math.max(x.digits.length, y.digits.length);
    const dx = x.digits.padEnd(width, '0');
    const dy = y.digits.padEnd(width, '0');
    magnitude = dx < dy ? -1 : dx > dy ? 1 : 0;
  }
  return x.sign * Math.sign(magnitude);
}

function bytesOf(value: AttributeValue): Buffer | undefined {
  if ('S' in value) return Buffer.from(value.S, 'utf8');
  if ('B' in value) return Buffer.from(value.B, 'base64');
  return undefined;
}

function equal(a: AttributeValue, b: AttributeValue): boolean {
  if (typeOf(a) !== typeOf(b)) return false;
  if ('N' in a && 'N' in b) return compareDecimals(a.N, b.N) === 0;
  return canonicalItemJson({ v: a }) === canonicalItemJson({ v: b });
}

/** Order of two scalars of one type (S, N, B), or undefined when they cannot be ordered. */
function order(a: AttributeValue, b: AttributeValue): number | undefined {
  if (typeOf(a) !== typeOf(b)) return undefined;
  if ('N' in a && 'N' in b) return compareDecimals(a.N, b.N);
  if (('S' in a && 'S' in b) || ('B' in a && 'B' in b))
    return Buffer.compare(bytesOf(a) as Buffer, bytesOf(b) as Buffer);
  return undefined;
}

function sizeOf(value: AttributeValue): number | undefined {
  if ('S' in value) return value.S.length;
  if ('B' in value) return Buffer.from(value.B, 'base64').length;
  if ('SS' in value) return value.SS.length;
  if ('NS' in value) return value.NS.length;
  if ('BS' in value) return value.BS.length;
  if ('L' in value) return value.L.length;
  if ('M' in value) return Object.keys(value.M).length;
  return undefined;
}

function operandValue(item: Item, operand: Operand): AttributeValue | undefined {
  if (operand.kind === 'value') return operand.value;
  const found = resolve(item, operand.path);
  if (operand.kind === 'path' || found === undefined) return found;
  const size = sizeOf(found);
  return size === undefined ? undefined : { N: String(size) };
}

function compare(op: string, a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (op === '=' || op === '<>') {
    const same = a !== undefined && b !== undefined && equal(a, b);
    return op === '=' ? same : !same;
  }
  if (a === undefined || b === undefined) return false;
  const c = order(a, b);
  if (c === undefined) return false;
  return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
}

function contains(haystack: AttributeValue, needle: AttributeValue): boolean {
  if ('S' in haystack) return 'S' in needle && haystack.S.includes(needle.S);
  if ('B' in haystack)
    return 'B' in needle && Buffer.from(haystack.B, 'base64').includes(Buffer.from(needle.B, 'base64'));
  if ('SS' in haystack) return 'S' in needle && haystack.SS.includes(needle.S);
  if ('NS' in haystack) return 'N' in needle && haystack.NS.some((n) => compareDecimals(n, needle.N) === 0);
  if ('BS' in haystack) return 'B' in needle && haystack.BS.includes(needle.B);
  if ('L' in haystack) return haystack.L.some((v) => equal(v, needle));
  return false;
}

function call(item: Item, node: Extract<Node, { kind: 'call' }>): boolean {
  const found = resolve(item, node.path);
  const arg = node.arg ? operandValue(item, node.arg) : undefined;
  switch (node.name) {
    case 'attribute_exists':
      return found !== undefined;
    case 'attribute_not_exists':
      return found === undefined;
    case 'attribute_type':
      return found !== undefined && arg !== undefined && 'S' in arg && typeOf(found) === arg.S;
    case 'begins_with': {
      if (found === undefined || arg === undefined || typeOf(found) !== typeOf(arg)) return false;
      const [f, p] = [bytesOf(found), bytesOf(arg)];
      return f !== undefined && p !== undefined && f.subarray(0, p.length).equals(p);
    }
    default:
      return found !== undefined && arg !== undefined && contains(found, arg);
  }
}

function evaluate(item: Item, node: Node): boolean {
  switch (node.kind) {
    case 'or':
      return evaluate(item, node.left) || evaluate(item, node.right);
    case 'and':
      return evaluate(item, node.left) && evaluate(item, node.right);
    case 'not':
      return !evaluate(item, node.inner);
    case 'compare':
      return compare(node.op, operandValue(item, node.left), operandValue(item, node.right));
    case 'between': {
      const v = operandValue(item, node.operand);
      return (
        compare('>=', v, operandValue(item, node.low)) && compare('<=', v, operandValue(item, node.high))
      );
    }
    case 'in': {
      const v = operandValue(item, node.operand);
      return v !== undefined && node.list.some((o) => compare('=', v, operandValue(item, o)));
    }
    case 'call':
      return call(item, node);
  }
}

/**
 * Compile a filter expression: parse it once, then test items with the returned function (pure).
 * @throws ValidationError (not retryable) naming the 1-based position of what is wrong: a syntax
 *   error, an unknown function, a `:value` or `#name` placeholder the input does not give.
 * @example
 * ```ts
 * const pass = compileFilter({ expression: 'begins_with(sk, :p) AND total > :min', values: { ':p': { S: 'order#' }, ':min': { N: '100' } } });
 * pass({ pk: { S: 'c#1' }, sk: { S: 'order#7' }, total: { N: '250' } }); // true
 * ```
 */
export function compileFilter(input: FilterInput): ItemFilter {
  const tree = new Parser(input).parse();
  return (item) => evaluate(item, tree);
}
