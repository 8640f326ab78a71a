"""What routes may use: the node's narrow services, handed to the app once, never the node.

Routes read them with `services(request)` (api/deps.py). There is deliberately no store and
no pool here: the API reaches data through control and engine services, and user code only
through the invoker (tests/test_layering.py keeps it so). A new route that needs a service
not listed adds a field here and one line where node.py builds this record.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.aliases import AliasService
from lamina.control.arns import Arns
from lamina.control.event_config import EventConfigService
from lamina.control.functions import FunctionService
from lamina.control.layer_policies import LayerPolicies
from lamina.control.layers import LayerService
from lamina.control.mappings import MappingService
from lamina.control.permissions import PermissionService
from lamina.control.provisioned import ProvisionedService
from lamina.control.recursion import RecursionConfigService
from lamina.engine.async_queue import AsyncQueue
from lamina.engine.intake import EventIntake
from lamina.engine.invoker import Invoker
from lamina.engine.leases import LeaseBook
from lamina.engine.log_sink import LogSink
from lamina.engine.provisioner import Provisioner
from lamina.engine.snapshot import Snapshots
from lamina.engine.storage import StorageKeeper
from lamina.logs.service import LogService
from lamina.queues.service import QueueService


@dataclass(frozen=True)
class Services:
    """The services routes call, by the API area that uses them."""

    settings: Settings  # endpoint URL and account limits, as the node was started
    clock: Clock
    store_kind: str  # the name /health reports ("sqlite")
    arns: Arns
    functions: FunctionService  # functions, versions, tags, reserved concurrency, code zips
    aliases: AliasService
    layers: LayerService  # layer versions; resolves a function's Layers
    layer_policies: LayerPolicies  # Add/RemoveLayerVersionPermission, GetLayerVersionPolicy
    event_configs: EventConfigService
    recursion_configs: RecursionConfigService  # Put/GetFunctionRecursionConfig
    permissions: PermissionService  # resource-based policies (AddPermission, GetPolicy)
    mappings: MappingService
    provisioned: ProvisionedService  # provisioned concurrency configs
    provisioner: Provisioner  # ... and where each stands (allocated, status)
    invoker: Invoker  # sync invokes and qualifier checks
    intake: EventIntake  # Event invokes
    async_queue: AsyncQueue  # /lamina/v1 queue inspection, purge, pause, resume
    queues: QueueService  # the SQS-compatible API
    logs: LogSink  # /lamina/v1 function logs
    log_service: LogService  # the CloudWatch Logs API and the dashboard's recent lines
    snapshots: Snapshots  # /lamina/v1/stats and /metrics
    storage: StorageKeeper  # /lamina/v1/storage
    leases: LeaseBook  # /lamina/v1/cluster: the live nodes sharing the store
