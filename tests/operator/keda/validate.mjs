// Validate KEDA objects (JSON array on stdin) against KEDA's API schema, as compiled by
// @kubernetes-models/keda (generated from KEDA's Go API types). Prints one line per object:
// "ok <kind>/<name>" or "error <kind>/<name>: <message>". Exit 1 if any failed.
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";

const models = { ScaledObject, TriggerAuthentication };
let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = false;
for (const doc of JSON.parse(input)) {
  const Model = models[doc.kind];
  const id = `${doc.kind}/${doc.metadata?.name}`;
  if (!Model) { console.log(`error ${id}: no KEDA model for this kind`); failed = true; continue; }
  try { new Model(doc).validate(); console.log(`ok ${id}`); }
  catch (e) { console.log(`error ${id}: ${e.message}`); failed = true; }
}
process.exit(failed ? 1 : 0);
