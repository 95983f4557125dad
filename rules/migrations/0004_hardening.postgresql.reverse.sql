DROP TRIGGER IF EXISTS rules_event_update ON rules_event;
DROP TRIGGER IF EXISTS rules_event_no_truncate ON rules_event;
DROP TRIGGER IF EXISTS rules_event_no_delete ON rules_event;
DROP TRIGGER IF EXISTS rules_rewardlink_no_truncate ON rules_rewardlink;
DROP TRIGGER IF EXISTS rules_rewardlink_immutable ON rules_rewardlink;
DROP TRIGGER IF EXISTS rules_ruleversion_no_truncate ON rules_ruleversion;
DROP TRIGGER IF EXISTS rules_ruleversion_immutable ON rules_ruleversion;
