from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VersionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERSION_STATUS_UNSPECIFIED: _ClassVar[VersionStatus]
    VERSION_STATUS_BUILDING: _ClassVar[VersionStatus]
    VERSION_STATUS_READY: _ClassVar[VersionStatus]
    VERSION_STATUS_ACTIVE: _ClassVar[VersionStatus]
    VERSION_STATUS_RETIRED: _ClassVar[VersionStatus]
    VERSION_STATUS_FAILED: _ClassVar[VersionStatus]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
VERSION_STATUS_UNSPECIFIED: VersionStatus
VERSION_STATUS_BUILDING: VersionStatus
VERSION_STATUS_READY: VersionStatus
VERSION_STATUS_ACTIVE: VersionStatus
VERSION_STATUS_RETIRED: VersionStatus
VERSION_STATUS_FAILED: VersionStatus
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState

class IndexVersion(_message.Message):
    __slots__ = ("id", "collection", "space", "unit", "version", "status", "factory", "ntotal", "recall", "metrics", "created_at", "activated_at", "retired_at", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FACTORY_FIELD_NUMBER: _ClassVar[int]
    NTOTAL_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATED_AT_FIELD_NUMBER: _ClassVar[int]
    RETIRED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    collection: str
    space: str
    unit: str
    version: int
    status: VersionStatus
    factory: str
    ntotal: int
    recall: float
    metrics: _struct_pb2.Struct
    created_at: str
    activated_at: str
    retired_at: str
    error: str
    def __init__(self, id: _Optional[int] = ..., collection: _Optional[str] = ..., space: _Optional[str] = ..., unit: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[VersionStatus, str]] = ..., factory: _Optional[str] = ..., ntotal: _Optional[int] = ..., recall: _Optional[float] = ..., metrics: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[str] = ..., activated_at: _Optional[str] = ..., retired_at: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "kind", "collection", "state", "progress", "error", "details", "created_at", "started_at", "ended_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    collection: str
    state: JobState
    progress: float
    error: str
    details: _struct_pb2.Struct
    created_at: str
    started_at: str
    ended_at: str
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., collection: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[float] = ..., error: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[str] = ..., started_at: _Optional[str] = ..., ended_at: _Optional[str] = ...) -> None: ...

class AssetCount(_message.Message):
    __slots__ = ("status", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: str
    count: int
    def __init__(self, status: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ScheduleInfo(_message.Message):
    __slots__ = ("id", "collection", "kind", "cron", "enabled", "last_fired_at", "next_fire_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIRE_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    collection: str
    kind: str
    cron: str
    enabled: bool
    last_fired_at: str
    next_fire_at: str
    def __init__(self, id: _Optional[int] = ..., collection: _Optional[str] = ..., kind: _Optional[str] = ..., cron: _Optional[str] = ..., enabled: _Optional[bool] = ..., last_fired_at: _Optional[str] = ..., next_fire_at: _Optional[str] = ...) -> None: ...

class CollectionStatus(_message.Message):
    __slots__ = ("name", "spaces", "assets", "active_versions", "last_jobs", "schedules", "lease_holder")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPACES_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_JOBS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    LEASE_HOLDER_FIELD_NUMBER: _ClassVar[int]
    name: str
    spaces: _containers.RepeatedScalarFieldContainer[str]
    assets: _containers.RepeatedCompositeFieldContainer[AssetCount]
    active_versions: _containers.RepeatedCompositeFieldContainer[IndexVersion]
    last_jobs: _containers.RepeatedCompositeFieldContainer[Job]
    schedules: _containers.RepeatedCompositeFieldContainer[ScheduleInfo]
    lease_holder: str
    def __init__(self, name: _Optional[str] = ..., spaces: _Optional[_Iterable[str]] = ..., assets: _Optional[_Iterable[_Union[AssetCount, _Mapping]]] = ..., active_versions: _Optional[_Iterable[_Union[IndexVersion, _Mapping]]] = ..., last_jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., schedules: _Optional[_Iterable[_Union[ScheduleInfo, _Mapping]]] = ..., lease_holder: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("collection", "job_limit")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    JOB_LIMIT_FIELD_NUMBER: _ClassVar[int]
    collection: str
    job_limit: int
    def __init__(self, collection: _Optional[str] = ..., job_limit: _Optional[int] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[CollectionStatus]
    def __init__(self, collections: _Optional[_Iterable[_Union[CollectionStatus, _Mapping]]] = ...) -> None: ...

class TriggerRebuildRequest(_message.Message):
    __slots__ = ("collection", "force")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    force: bool
    def __init__(self, collection: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class TriggerRebuildResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ("collection", "space", "unit")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    collection: str
    space: str
    unit: str
    def __init__(self, collection: _Optional[str] = ..., space: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[IndexVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[IndexVersion, _Mapping]]] = ...) -> None: ...

class ActivateVersionRequest(_message.Message):
    __slots__ = ("collection", "version_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    version_id: int
    def __init__(self, collection: _Optional[str] = ..., version_id: _Optional[int] = ...) -> None: ...

class ActivateVersionResponse(_message.Message):
    __slots__ = ("activated", "previous")
    ACTIVATED_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    activated: IndexVersion
    previous: IndexVersion
    def __init__(self, activated: _Optional[_Union[IndexVersion, _Mapping]] = ..., previous: _Optional[_Union[IndexVersion, _Mapping]] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("collection", "space", "unit")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    collection: str
    space: str
    unit: str
    def __init__(self, collection: _Optional[str] = ..., space: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ("activated",)
    ACTIVATED_FIELD_NUMBER: _ClassVar[int]
    activated: _containers.RepeatedCompositeFieldContainer[IndexVersion]
    def __init__(self, activated: _Optional[_Iterable[_Union[IndexVersion, _Mapping]]] = ...) -> None: ...
