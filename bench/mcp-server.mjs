// The MCP server the MCP benchmark calls: the official TypeScript SDK's server with its
// Streamable HTTP transport (tests/e2e/lib/mcpserver.mjs), on a free port it prints.
import { startMcpServer } from '../tests/e2e/lib/mcpserver.mjs';

const s = await startMcpServer({ name: 'bench' });
console.log(s.port);
