"""moto's server for the deploy tests, with its change set execution completed.

moto executes a change set by updating the stack's resources only: the stack keeps the
parameters, outputs and exports it had (none, for a stack created by a change set), so a
stack importing another's export fails; and it finds the change set by name alone, though
names are unique per stack only. Its ECS task definition update forgets to map the template's
keys (`Image` stays `Image`, so the new revision has no `image`), and a service whose
`TaskDefinition: !Ref …` now names a new revision is not updated. A resource whose `Condition`
turns true in an update is never created, a service created without `DesiredCount` gets 0
tasks (CloudFormation: 1), a scalable target does not bring its service into [Min, Max], and
a stack whose exports other stacks import is deleted anyway (CloudFormation refuses). The
patches below are the smallest that let moto stand in for change-set deploys and destroys.
Everything else is moto.

usage: python moto_server.py PORT
"""

import sys

from moto.cloudformation import models
from moto.cloudformation.parsing import clean_json
from moto.ecs import models as ecs
from moto.server import main

original_execute = models.CloudFormationBackend.execute_change_set


def execute_change_set(self, change_set_name, stack_name=None):
    # Change set names are unique per stack, not per region: pick the one of this stack (moto
    # takes the last of that name, whichever stack it belongs to) and hand moto its ARN.
    def of_stack(cs):
        stack = self.stacks.get(cs.stack_id)
        return stack_name is None or stack_name in (cs.stack_id, getattr(stack, "name", None))

    arn, change_set = next(
        (
            (arn, cs)
            for arn, cs in self.change_sets.items()
            if arn == change_set_name or (cs.change_set_name == change_set_name and of_stack(cs))
        ),
        (change_set_name, None),
    )
    change_set_name = arn
    if change_set is not None:
        stack = self.stacks[change_set.stack_id]
        # Imports resolve against the region's exports, as for stacks made by CreateStack.
        stack.cross_stack_resources = self.exports
        stack.resource_map.cross_stack_resources = self.exports
    original_execute(self, change_set_name, stack_name)
    if change_set is None:
        return
    stack = self.stacks[change_set.stack_id]
    stack.parameters = change_set.parameters
    stack.resource_map._parameters = change_set.parameters
    stack._parse_template()
    for export in stack.exports:
        self.exports.pop(export.name, None)
    stack.output_map = stack._create_output_map()
    create_enabled_resources(stack)
    for export in stack.exports:
        self.exports[export.name] = export

    sync_services(self, stack)
    register_scalable_targets(self, stack)


def resources(stack):
    return (stack.template_dict.get("Resources") or {}).items()


def enabled(stack, resource):
    condition = resource.get("Condition")
    return condition is None or bool(stack.resource_map.lazy_condition_map[condition])


def create_enabled_resources(stack):
    """Creates the resources whose Condition holds now but did not before the update."""
    for logical_id, resource in resources(stack):
        if enabled(stack, resource) and logical_id not in stack.resource_map._parsed_resources:
            stack.resource_map[logical_id]
    stack.output_map = stack._create_output_map()


def sync_services(backend, stack):
    """Points each ECS service of the stack at the revision its TaskDefinition Ref names now.
    CloudFormation's update of the service sends every property the template gives it: the
    DesiredCount too, when the template sets one."""
    ecs_backend = ecs.ecs_backends[backend.account_id][backend.region_name]
    for logical_id, resource in resources(stack):
        if resource.get("Type") != "AWS::ECS::Service" or not enabled(stack, resource):
            continue
        properties = resource.get("Properties") or {}
        ref = properties.get("TaskDefinition")
        if not (isinstance(ref, dict) and "Ref" in ref):
            continue
        task_definition = stack.resource_map[ref["Ref"]]
        service = stack.resource_map[logical_id]
        if getattr(service, "task_definition", None) != task_definition.arn:
            update = {"cluster": service.cluster_name, "service": service.name, "task_definition": task_definition.arn}
            if "DesiredCount" in properties:
                update["desired_count"] = int(clean_json(properties["DesiredCount"], stack.resource_map))
            ecs_backend.update_service(update)


def register_scalable_targets(backend, stack):
    """RegisterScalableTarget on an active service brings its desired count into [Min, Max]."""
    ecs_backend = ecs.ecs_backends[backend.account_id][backend.region_name]
    for _, resource in resources(stack):
        if resource.get("Type") != "AWS::ApplicationAutoScaling::ScalableTarget" or not enabled(stack, resource):
            continue
        properties = clean_json(resource.get("Properties") or {}, stack.resource_map)
        if properties.get("ServiceNamespace") != "ecs":
            continue
        # service/<cluster name or ARN>/<service name>
        cluster, name = properties["ResourceId"].split("/")[-2:]
        service = ecs_backend._get_service(cluster, name)
        lowest, highest = int(properties["MinCapacity"]), int(properties["MaxCapacity"])
        wanted = min(max(service.desired_count, lowest), highest)
        if wanted != service.desired_count:
            ecs_backend.update_service({"cluster": cluster, "service": name, "desired_count": wanted})


def imported_names(stack):
    """The export names the stack's template imports, resolved."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "Fn::ImportValue":
                    found.append(clean_json(inner, stack.resource_map))
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(stack.template_dict.get("Resources") or {})
    return found


original_delete_stack = models.CloudFormationBackend.delete_stack


def delete_stack(self, name_or_stack_id):
    """CloudFormation refuses to delete a stack whose exports another stack imports: the stack
    ends in DELETE_FAILED and keeps everything."""
    stack = next(
        (s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)),
        None,
    )
    if stack is not None:
        own = {export.name for export in stack.exports}
        for other in list(self.stacks.values()):
            if other is stack or other.status in ("REVIEW_IN_PROGRESS", "DELETE_COMPLETE"):
                continue
            in_use = sorted(own.intersection(imported_names(other)))
            if in_use:
                stack._add_stack_event("DELETE_IN_PROGRESS", "User Initiated")
                stack._add_stack_event(
                    "DELETE_FAILED",
                    f"Export {in_use[0]} cannot be deleted as it is in use by {other.name}",
                )
                stack.status = "DELETE_FAILED"
                return
    original_delete_stack(self, name_or_stack_id)


original_create_service = ecs.Service.create_from_cloudformation_json.__func__


def create_service(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    # CloudFormation creates a service without DesiredCount with one task; moto with none.
    properties = cloudformation_json["Properties"]
    if properties.get("DesiredCount") is None:
        cloudformation_json = {**cloudformation_json, "Properties": {**properties, "DesiredCount": 1}}
    return original_create_service(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


def update_task_definition(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    properties = cloudformation_json["Properties"]
    family = properties.get("Family", original_resource.family)
    containers = ecs.remap_nested_keys(properties.get("ContainerDefinitions", []), ecs.pascal_to_camelcase)
    volumes = ecs.remap_nested_keys(properties.get("Volumes", []), ecs.pascal_to_camelcase)
    if (original_resource.family, original_resource.container_definitions, original_resource.volumes) == (
        family,
        containers,
        volumes,
    ):
        return original_resource
    backend = ecs.ecs_backends[account_id][region_name]
    backend.deregister_task_definition(original_resource.arn)
    return backend.register_task_definition(
        family=family, container_definitions=containers, volumes=volumes, memory=properties.get("Memory")
    )


models.CloudFormationBackend.execute_change_set = execute_change_set
models.CloudFormationBackend.delete_stack = delete_stack
ecs.Service.create_from_cloudformation_json = classmethod(create_service)
ecs.TaskDefinition.update_from_cloudformation_json = classmethod(update_task_definition)

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
