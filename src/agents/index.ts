/**
 * What every agent shares, whoever drives it (the command, openai and hybrid proposers, the MCP server): the
 * brief, the history digest, the discipline rules, token/cost accounting, and the CLI agent runner.
 */
export * from './brief.js';
export * from './discipline.js';
export * from './history.js';
export * from './rules.js';
export * from './runner.js';
export * from './runstate.js';
export * from './settings.js';
export * from './usage.js';
