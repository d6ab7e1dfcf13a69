/**
 * Reading CloudFormation in tests: YAML with the short intrinsic tags, and a small evaluator that
 * turns intrinsics into comparable strings (`{Ref: X}` → `<X>`, `{Fn::GetAtt: [X, Arn]}` →
 * `<X.Arn>`, `Fn::Sub`/`Fn::Join`/`Fn::Select`/`Fn::Split` expanded, pseudo parameters and template parameters filled in).
 */
import { readFileSync } from 'node:fs';
import { parse, type Tags } from 'yaml';

export interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

export interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
  Conditions?: Record<string, unknown>;
  Parameters?: Record<string, { Default?: unknown }>;
}

const intrinsics = [
  'Ref',
  'GetAtt',
  'Sub',
  'Join',
  'Select',
  'Split',
  'If',
  'Equals',
  'Not',
  'ImportValue',
  'FindInMap',
];

/** The short intrinsic tags (`!Ref`, `!GetAtt`, `!Sub` …) in their long form. */
export const cloudFormationTags: Tags = intrinsics.flatMap((name): Tags => {
  const long = name === 'Ref' ? 'Ref' : `Fn::${name}`;
  return [
    {
      tag: `!${name}`,
      resolve: (value: string) => ({ [long]: name === 'GetAtt' ? value.split('.') : value }),
    },
    { tag: `!${name}`, collection: 'seq', resolve: (seq) => ({ [long]: seq.toJSON() }) },
  ];
});

/** A YAML file that uses the short intrinsic tags (serverless.yml, a CloudFormation template). */
export function readYaml<T>(file: string): T {
  // serverless.yml's alarms share their settings through YAML merge keys (many aliases).
  return parse(readFileSync(file, 'utf8'), {
    customTags: cloudFormationTags,
    merge: true,
    maxAliasCount: 1000,
  }) as T;
}

/** What the evaluator substitutes: pseudo parameters (`AWS::Region` …) and template parameters. */
export type Bindings = Record<string, string>;

export function pseudoParameters(region: string, accountId = '123456789012'): Bindings {
  return { 'AWS::AccountId': accountId, 'AWS::Region': region, 'AWS::Partition': 'aws' };
}

/**
 * Evaluate intrinsics to strings; a reference to a resource stays symbolic (`<X>`, `<X.Arn>`), so
 * policies can be compared with an allow-list. Objects and arrays are evaluated recursively.
 */
export function evaluate(value: unknown, bindings: Bindings): unknown {
  if (Array.isArray(value)) return value.map((v) => evaluate(v, bindings));
  if (!value || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1) {
    if ('Ref' in obj) {
      const name = String(obj.Ref);
      return bindings[name] ?? `<${name}>`;
    }
    if ('Fn::GetAtt' in obj) {
      const target = obj['Fn::GetAtt'];
      const [id, attribute] = Array.isArray(target) ? target : String(target).split('.');
      return `<${id}.${attribute}>`;
    }
    if ('Fn::Sub' in obj) {
      const argument = obj['Fn::Sub'];
      const [text, variables] =
        typeof argument === 'string' ? [argument, {}] : (argument as [string, object]);
      const locals = evaluate(variables, bindings) as Record<string, unknown>;
      return text.replace(/\$\{(!?)([^}]+)\}/g, (_all, literal: string, name: string) => {
        if (literal) return `\${${name}}`;
        if (name in locals) return String(locals[name]);
        if (name in bindings) return String(bindings[name]);
        return `<${name}>`;
      });
    }
    if ('Fn::Select' in obj) {
      const [index, list] = obj['Fn::Select'] as [number | string, unknown];
      return (evaluate(list, bindings) as unknown[])[Number(index)];
    }
    if ('Fn::Split' in obj) {
      const [delimiter, text] = obj['Fn::Split'] as [string, unknown];
      return String(evaluate(text, bindings)).split(delimiter);
    }
    if ('Fn::Join' in obj) {
      const [delimiter, list] = obj['Fn::Join'] as [string, unknown[]];
      return (evaluate(list, bindings) as unknown[]).map(String).join(delimiter);
    }
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, evaluate(v, bindings)]));
}

/** `x` or `[x, y]` → `[x]` or `[x, y]`. */
export function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** A policy statement, evaluated. */
export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: unknown;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: string | string[];
  NotResource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** The statements of every inline policy of a role, evaluated. */
export function roleStatements(role: Resource, bindings: Bindings): Statement[] {
  const policies = (role.Properties?.Policies ?? []) as { PolicyDocument: { Statement: unknown } }[];
  return policies.flatMap((p) => asList(evaluate(p.PolicyDocument.Statement, bindings) as Statement[]));
}

/** `"action resource"` for every action and resource an Allow statement grants. */
export function grants(statements: Statement[]): string[] {
  return statements
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => asList(s.Action).flatMap((a) => asList(s.Resource).map((r) => `${a} ${r}`)))
    .sort();
}
