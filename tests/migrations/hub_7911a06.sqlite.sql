-- The hub tables as release 7911a06 created them (SQLModel create_all, sqlite).
-- Generated from that commit's models by the SQLAlchemy DDL compiler create_all uses; do not edit.

CREATE TABLE hub_case (
	service_code VARCHAR(32) NOT NULL,
	service_name VARCHAR(64) NOT NULL,
	"group" VARCHAR(64) NOT NULL,
	description VARCHAR(4000) NOT NULL,
	lat FLOAT,
	long FLOAT,
	address VARCHAR(1000),
	address_id VARCHAR(128),
	zipcode VARCHAR(16),
	media_url VARCHAR(2048),
	attributes JSON NOT NULL,
	account_id VARCHAR(128),
	device_id VARCHAR(128),
	channel VARCHAR(16),
	external_id VARCHAR(128),
	first_name VARCHAR(64),
	last_name VARCHAR(64),
	phone VARCHAR(32),
	email VARCHAR(254),
	id VARCHAR(14) NOT NULL,
	token VARCHAR(36) NOT NULL,
	address_norm VARCHAR(1000),
	state VARCHAR(16) NOT NULL,
	status_notes VARCHAR(2000) NOT NULL,
	agency_responsible VARCHAR(64),
	level VARCHAR(4) NOT NULL,
	priority VARCHAR(8) NOT NULL,
	duplicate_of VARCHAR(14),
	requested_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	dispatched_at DATETIME,
	expected_at DATETIME,
	resolved_at DATETIME,
	closed_at DATETIME,
	overdue_marked_at DATETIME,
	result_media_urls JSON NOT NULL,
	rating INTEGER,
	rating_comment VARCHAR(1000),
	PRIMARY KEY (id),
	CONSTRAINT uq_hub_case_channel_external_id UNIQUE (channel, external_id)
);

CREATE INDEX ix_hub_case_account_id ON hub_case (account_id);

CREATE INDEX ix_hub_case_dup ON hub_case (service_code, requested_at);

CREATE INDEX ix_hub_case_state_due ON hub_case (state, expected_at);

CREATE INDEX ix_hub_case_token ON hub_case (token);

CREATE TABLE hub_audit (
	id INTEGER NOT NULL,
	case_id VARCHAR(14) NOT NULL,
	at DATETIME NOT NULL,
	actor VARCHAR(128) NOT NULL,
	principal VARCHAR(128) NOT NULL,
	action VARCHAR(32) NOT NULL,
	reason VARCHAR(2000) NOT NULL,
	detail JSON NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(case_id) REFERENCES hub_case (id)
);

CREATE INDEX ix_hub_audit_case_id ON hub_audit (case_id);

CREATE TABLE hub_update (
	id INTEGER NOT NULL,
	case_id VARCHAR(14) NOT NULL,
	event VARCHAR(16) NOT NULL,
	state VARCHAR(16) NOT NULL,
	description VARCHAR(4000) NOT NULL,
	media_url VARCHAR(2048),
	agency_responsible VARCHAR(64),
	expected_at DATETIME,
	result_media_urls JSON NOT NULL,
	level VARCHAR(4) NOT NULL,
	priority VARCHAR(8) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(case_id) REFERENCES hub_case (id)
);

CREATE INDEX ix_hub_update_case_id ON hub_update (case_id);
