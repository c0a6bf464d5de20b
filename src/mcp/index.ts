/** The MCP server (`ratchet mcp`): typed tools with server-side experiment discipline. */
export { experimentView, McpController, type McpOptions, type StartResult } from './controller.js';
export { createMcpServer, SERVER_INFO, serveStdio } from './server.js';
