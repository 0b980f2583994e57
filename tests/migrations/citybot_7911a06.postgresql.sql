-- The citybot tables as release 7911a06 created them (SQLModel create_all, postgresql).
-- Generated from that commit's models by the SQLAlchemy DDL compiler create_all uses; do not edit.

CREATE TABLE citybot_button_payload (
	key VARCHAR(24) NOT NULL,
	payload TEXT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (key)
);

CREATE TABLE citybot_hotline_call (
	call_id VARCHAR(128) NOT NULL,
	source VARCHAR(1000) NOT NULL,
	line_no INTEGER NOT NULL,
	outcome VARCHAR(16) NOT NULL,
	case_id VARCHAR(64),
	category VARCHAR(16),
	subcategory VARCHAR(32),
	confidence FLOAT,
	referral VARCHAR(32),
	phone_hash VARCHAR(64),
	reason VARCHAR(1000),
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (call_id)
);

CREATE INDEX ix_citybot_hotline_call_phone_hash ON citybot_hotline_call (phone_hash);

CREATE TABLE citybot_notifier_cursor (
	name VARCHAR(32) NOT NULL,
	after INTEGER NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE citybot_outbox (
	id SERIAL NOT NULL,
	update_id INTEGER NOT NULL,
	chat_id VARCHAR(64) NOT NULL,
	case_id VARCHAR(32) NOT NULL,
	channel VARCHAR(16) NOT NULL,
	state VARCHAR(8) NOT NULL,
	payload JSON NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at TIMESTAMP WITH TIME ZONE,
	last_error VARCHAR(500) NOT NULL,
	hub_time TIMESTAMP WITH TIME ZONE,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	sent_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	CONSTRAINT uq_citybot_outbox_update_chat UNIQUE (update_id, chat_id)
);

CREATE INDEX ix_citybot_outbox_state ON citybot_outbox (state);

CREATE INDEX ix_citybot_outbox_update_id ON citybot_outbox (update_id);

CREATE TABLE citybot_report_outbox (
	id SERIAL NOT NULL,
	external_id VARCHAR(128) NOT NULL,
	sender_id VARCHAR(128) NOT NULL,
	payload VARCHAR NOT NULL,
	status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
	last_error VARCHAR(1000) NOT NULL,
	case_id VARCHAR(64),
	duplicate_of VARCHAR(64),
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	filed_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (external_id)
);

CREATE INDEX ix_citybot_report_outbox_sender_id ON citybot_report_outbox (sender_id);

CREATE INDEX ix_citybot_report_outbox_status ON citybot_report_outbox (status);

CREATE TABLE citybot_staff_user (
	id SERIAL NOT NULL,
	telegram_user_id INTEGER NOT NULL,
	name VARCHAR(64) NOT NULL,
	role VARCHAR(16) NOT NULL,
	level VARCHAR(8) NOT NULL,
	department VARCHAR(64) NOT NULL,
	active BOOLEAN NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_citybot_staff_user_telegram_user_id ON citybot_staff_user (telegram_user_id);

CREATE TABLE citybot_subscription (
	id SERIAL NOT NULL,
	chat_id VARCHAR(64) NOT NULL,
	case_id VARCHAR(32) NOT NULL,
	channel VARCHAR(16) NOT NULL,
	active BOOLEAN NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_citybot_subscription_chat_case UNIQUE (chat_id, case_id)
);

CREATE INDEX ix_citybot_subscription_case_id ON citybot_subscription (case_id);

CREATE INDEX ix_citybot_subscription_chat_id ON citybot_subscription (chat_id);
