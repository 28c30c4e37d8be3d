/**
 * Writes a small data package to stdout (or to the path given as first argument), for trying the
 * emulator by hand: `npx tsx emulator/sample-package.ts customers.zip`.
 * Default: "Customers V3" with three good rows, one row with the bad-value marker, one without key
 * and one duplicate key, so an import ends PartiallySucceeded with three staging errors.
 * `--orders`: the order batch of the built-in `OrdersBatch` project ("Sales order headers V2" then
 * "Sales order lines V2", see sales-orders.ts), which imports in one execution and succeeds.
 */
import { writeFileSync } from 'node:fs';
import { buildPackage } from './package.js';
import { buildOrdersBatchPackage } from './sales-orders.js';

const args = process.argv.slice(2);
const zip = args.includes('--orders')
  ? await buildOrdersBatchPackage()
  : await buildPackage({
      definitionGroupName: 'CustomerImport',
      entities: [
        {
          entityName: 'Customers V3',
          columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'],
          rows: [
            ['US-001', 'Contoso', '10'],
            ['US-002', 'Fabrikam #BAD#', '10'],
            ['', 'No key', '10'],
            ['US-001', 'Duplicate', '10'],
            ['US-003', 'Adatum', '20'],
            ['US-004', 'Litware', '20'],
          ],
        },
      ],
    });
const target = args.find((a) => !a.startsWith('--'));
if (target) writeFileSync(target, zip);
else process.stdout.write(zip);
