// `aigw run --mcp-config / --mcp-json` as upstream: an MCP clients' {"mcpServers": ...} document
// becomes an MCPRoute on /mcp with no configuration file. The generated configuration (`aigw
// autoconfig --mcp-json`, what `aigw run` loads) is served to the official MCP SDK client, in front
// of a real SDK server that requires the bearer token the document gives.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startAigw, runAigw, freePort } from '../lib/harness.mjs';
import { startMcpServer } from '../lib/mcpserver.mjs';

describe('aigw run --mcp-json / --mcp-config (upstream\'s MCP servers autoconfig)', () => {
  let server;
  let gw;
  after(async () => {
    await gw?.stop();
    await server?.close();
  });

  it('serves the document\'s servers on /mcp, with their tokens and includeTools', async () => {
    server = await startMcpServer({ name: 'kiwi', key: { header: 'authorization', value: 'Bearer tok-123' } });
    const doc = {
      mcpServers: {
        kiwi: { type: 'http', url: `http://127.0.0.1:${server.port}/mcp`, headers: { Authorization: 'Bearer ${KIWI_TOKEN}' }, includeTools: ['echo', 'add'] },
      },
    };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-mcpauto-'));
    const file = path.join(dir, 'mcp-servers.json');
    writeFileSync(file, JSON.stringify(doc));
    // the same document inline and from a file
    const inline = await runAigw(['autoconfig', '--mcp-json', JSON.stringify(doc)]);
    const fromFile = await runAigw(['autoconfig', '--mcp-config', file]);
    assert.equal(inline.code, 0, inline.stderr);
    assert.equal(fromFile.stdout, inline.stdout);
    assert.match(inline.stdout, /kind: MCPRoute/);
    // served (the generated listener moved off 1975, which a shared machine may hold)
    const port = await freePort();
    gw = await startAigw({ config: inline.stdout.replace('port: 1975', `port: ${port}`), env: { KIWI_TOKEN: 'tok-123' }, port });
    const client = new Client({ name: 'auto', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.base}/mcp`)));
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['kiwi__add', 'kiwi__echo']);
    assert.equal((await client.callTool({ name: 'kiwi__echo', arguments: { text: 'hi' } })).content[0].text, 'kiwi: hi');
    await client.close();
  });

  it('refuses what it cannot serve, naming the server', async () => {
    const stdio = await runAigw(['run', '--mcp-json', JSON.stringify({ mcpServers: { fs: { command: 'npx', args: ['x'] } } })]);
    assert.equal(stdio.code, 2);
    assert.match(stdio.stdout + stdio.stderr, /mcpServers\.fs: stdio servers \(command\) are not served yet/);
    const both = await runAigw(['run', '--mcp-json', '{}', '--mcp-config', '/nonexistent']);
    assert.equal(both.code, 2);
    assert.match(both.stdout + both.stderr, /mutually exclusive/);
  });
});
