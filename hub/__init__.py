"""The reference case-dispatch hub (事件统一分拨平台): Open311 GeoReport v2 server, staff API and its client."""
