// Faithfulness check: drive the Fluent sandbox with the UNMODIFIED reference SDK
// (@fluentcommerce/fc-connect-sdk@0.1.56) and print one JSON report on stdout.
//
// Environment:
//   REF_SDK_DIR       directory where the SDK was installed with `npm install --prefix`
//   SANDBOX_BASE_URL  the sandbox base URL; SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET,
//   SANDBOX_USERNAME, SANDBOX_PASSWORD, SANDBOX_RETAILER_ID  its credentials
//
// The script never asserts; the Python test (tests/integration/sandbox/test_reference_sdk.py) does.
// Every step records what the SDK returned, or the error it threw.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

async function loadSdk() {
  const require = createRequire(join(env('REF_SDK_DIR'), 'package.json'));
  const pkgPath = require.resolve('@fluentcommerce/fc-connect-sdk/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  const entry = join(dirname(pkgPath), pkg.exports['.'].import.default);
  return { sdk: await import(pathToFileURL(entry).href), version: pkg.version };
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const warnings = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function step(report, name, fn) {
  try {
    report[name] = { ok: true, ...(await fn()) };
  } catch (error) {
    report[name] = { ok: false, error: String(error?.message ?? error), status: error?.statusCode ?? error?.status };
  }
}

const ORDERS = `
  query AllOrders($first: Int, $after: String) {
    orders(first: $first, after: $after) {
      edges { cursor node { id ref updatedOn } }
      pageInfo { hasNextPage hasPreviousPage }
    }
  }`;

async function main() {
  const { sdk, version } = await loadSdk();
  const baseUrl = env('SANDBOX_BASE_URL');
  const retailerId = env('SANDBOX_RETAILER_ID');
  const report = { sdkVersion: version };

  const client = await sdk.createClient(
    {
      config: {
        baseUrl,
        clientId: env('SANDBOX_CLIENT_ID'),
        clientSecret: env('SANDBOX_CLIENT_SECRET'),
        username: env('SANDBOX_USERNAME'),
        password: env('SANDBOX_PASSWORD'),
        retailerId,
        retryConfig: { baseRetryDelayMs: 100, maxAuthRetryDelayMs: 500 },
      },
      logger: quiet,
    },
    { validateConnection: true },
  );
  report.connected = { ok: true };

  await step(report, 'me', async () => {
    const data = await client.query('query { me { ref } }');
    return { ref: data.me.ref };
  });

  await step(report, 'paginate', async () => {
    const result = await client.graphql({
      query: ORDERS,
      variables: { first: 100 },
      pagination: { onWarning: (w) => warnings.push(w) },
    });
    const refs = result.data.orders.edges.map((e) => e.node.ref);
    return { refs, autoPagination: result.extensions?.autoPagination };
  });

  await step(report, 'paginateBackward', async () => {
    const result = await client.graphql({
      query: `query Back($last: Int, $before: String) {
        orders(last: $last, before: $before) { edges { cursor node { id ref } } pageInfo { hasNextPage hasPreviousPage } }
      }`,
      variables: { last: 50 },
      pagination: { onWarning: (w) => warnings.push(w) },
    });
    return { refs: result.data.orders.edges.map((e) => e.node.ref), autoPagination: result.extensions?.autoPagination };
  });

  await step(report, 'graphqlErrorSurfaces', async () => {
    try {
      await client.graphql({ query: 'query { orders(first: 500) { edges { cursor } } }' });
      return { thrown: false };
    } catch (error) {
      const errors = error?.graphqlErrors ?? [];
      const classified = typeof sdk.classifyError === 'function' && errors.length ? sdk.classifyError(errors[0]) : null;
      return {
        thrown: true,
        name: error?.name,
        codes: errors.map((e) => e.extensions?.code),
        retryable: classified ? classified.retryable : null,
      };
    }
  });

  let jobId;
  let batchId;
  await step(report, 'createJob', async () => {
    const job = await client.createJob({ name: `Inventory ref-sdk ${new Date().toISOString()}`, retailerId });
    jobId = job.id;
    return { id: job.id, status: job.status };
  });

  await step(report, 'sendBatch', async () => {
    const batch = await client.sendBatch(jobId, {
      action: 'UPSERT',
      entityType: 'INVENTORY',
      source: 'ref-sdk-check',
      event: 'InventoryChanged',
      entities: [
        { skuRef: 'SKU-0001', locationRef: 'LOC-01', qty: 4242, type: 'LAST_ON_HAND', status: 'ACTIVE', retailerId: Number(retailerId) },
        { skuRef: 'SKU-REF', locationRef: 'LOC-02', qty: 17, type: 'LAST_ON_HAND', status: 'ACTIVE', retailerId: Number(retailerId) },
        { skuRef: 'SKU-0002', locationRef: 'LOC-01', qty: -3, type: 'LAST_ON_HAND', status: 'ACTIVE' },
      ],
    });
    batchId = batch.id;
    return { id: batch.id, status: batch.status };
  });

  await step(report, 'pollBatch', async () => {
    const statuses = [];
    for (let i = 0; i < 300; i++) {
      const status = await client.getBatchStatus(jobId, batchId);
      if (statuses[statuses.length - 1] !== status.status) statuses.push(status.status);
      if (['COMPLETE', 'COMPLETED', 'FAILED'].includes(status.status)) {
        return { statuses, final: status };
      }
      await sleep(20);
    }
    throw new Error(`batch did not finish: ${statuses.join(' -> ')}`);
  });

  await step(report, 'jobStatus', async () => {
    const job = await client.getJobStatus(jobId);
    const results = await client.getJobResults(jobId);
    return { status: job.status, totalBatches: results.totalBatches };
  });

  await step(report, 'inventoryAfterBatch', async () => {
    const data = await client.query(
      `query Inv($skus: [String], $locs: [String]) {
        inventoryPositions(first: 10, productRef: $skus, locationRef: $locs) {
          edges { node { productRef locationRef onHand } } pageInfo { hasNextPage } } }`,
      { skus: ['SKU-0001', 'SKU-REF'], locs: ['LOC-01', 'LOC-02'] },
    );
    return { positions: data.inventoryPositions.edges.map((e) => e.node) };
  });

  let eventId;
  await step(report, 'sendEventAsync', async () => {
    const response = await client.sendEvent({
      name: 'OrderCancel', entityType: 'ORDER', entityRef: 'ORD-000001',
      rootEntityType: 'ORDER', rootEntityRef: 'ORD-000001', attributes: { reason: 'ref-sdk' },
    }, 'async');
    eventId = response.id;
    return { id: response.id, success: response.success, statusCode: response.statusCode };
  });

  await step(report, 'sendEventSync', async () => {
    const response = await client.sendEvent({
      name: 'PaymentCaptured', entityType: 'ORDER', entityRef: 'ORD-000002', rootEntityType: 'ORDER',
    }, 'sync');
    return { id: response.id, success: response.success, statusCode: response.statusCode, status: response.status };
  });

  await step(report, 'eventLog', async () => {
    await sleep(200);
    const search = await client.getEvents({ name: 'OrderCancel', 'context.entityRef': 'ORD-000001', count: 10 });
    const one = await client.getEventById(eventId);
    return { count: search.count, hasMore: search.hasMore, eventStatus: one.eventStatus, name: one.name };
  });

  await step(report, 'refreshAfterExpiry', async () => {
    const expired = await fetch(`${baseUrl}/_sandbox/tokens/expire`, { method: 'POST' });
    if (!expired.ok) throw new Error(`admin expire failed: ${expired.status}`);
    const data = await client.query('query { me { ref } }');
    return { ref: data.me.ref };
  });

  report.warnings = warnings;
  process.stdout.write(JSON.stringify(report));
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ fatal: String(error?.stack ?? error) }));
  process.exitCode = 1;
});
