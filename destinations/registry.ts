import type { AnyDestinationDefinition } from './types.js';
import { file } from './file/index.js';
import { hubspot } from './hubspot/index.js';
import { mailchimp } from './mailchimp/index.js';
import { postgres } from './postgres/index.js';
import { salesforce } from './salesforce/index.js';
import { slack } from './slack/index.js';
import { webhook } from './webhook/index.js';
import { zendesk } from './zendesk/index.js';

/** Every connector activate ships, by the `type:` users write in activate.yml. */
export const destinationTypes: Readonly<Record<string, AnyDestinationDefinition>> = {
  [webhook.type]: webhook,
  [hubspot.type]: hubspot,
  [slack.type]: slack,
  [postgres.type]: postgres,
  [file.type]: file,
  [salesforce.type]: salesforce,
  [mailchimp.type]: mailchimp,
  [zendesk.type]: zendesk,
};

export function destinationDefinition(type: string): AnyDestinationDefinition | undefined {
  return Object.hasOwn(destinationTypes, type) ? destinationTypes[type] : undefined;
}
