"""Rule actions: what a matched rule does (SPEC §6).

One module per action type (``credit_reward``, ``percent_commission``, ``award_credits``) holds
everything about it: its params' JSON Schema fragment, its semantic checks, its plan, how it
runs, its explanation, its line on the admin's publish page, the builder's form fields and the
phrases the offline drafter reads. ``rules.action_registry`` is the list of actions the rest of the rules
app asks (the schema, validation, planning, explaining, drafting, the builder's catalog);
``RulesConfig.ready()`` registers the built-in ones. ``run`` runs a plan through the money
domain's services, and ``rewarding`` books the reward-paying actions under the rule's limits.

Adding an action is adding one module here and registering it: nothing else changes.
"""
