DROP TRIGGER IF EXISTS rules_ruleversion_no_update;
DROP TRIGGER IF EXISTS rules_ruleversion_no_delete;
DROP TRIGGER IF EXISTS rules_rewardlink_no_update;
DROP TRIGGER IF EXISTS rules_rewardlink_no_delete;
DROP TRIGGER IF EXISTS rules_event_no_delete;
DROP TRIGGER IF EXISTS rules_event_update;
