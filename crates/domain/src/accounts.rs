//! Roles and what each may do, independent of storage.

use serde::{Deserialize, Serialize};

/// The roles of DESIGN section 1. The identifier (`as_str`) is what the database and API carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    Volunteer,
    BuildingHead,
    GridWorker,
    GridHead,
    CommunityAdmin,
    StreetAdmin,
    DepartmentHandler,
    Police,
    Leader,
    Sysadmin,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::Resident,
        Role::Volunteer,
        Role::BuildingHead,
        Role::GridWorker,
        Role::GridHead,
        Role::CommunityAdmin,
        Role::StreetAdmin,
        Role::DepartmentHandler,
        Role::Police,
        Role::Leader,
        Role::Sysadmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Volunteer => "volunteer",
            Role::BuildingHead => "building_head",
            Role::GridWorker => "grid_worker",
            Role::GridHead => "grid_head",
            Role::CommunityAdmin => "community_admin",
            Role::StreetAdmin => "street_admin",
            Role::DepartmentHandler => "department_handler",
            Role::Police => "police",
            Role::Leader => "leader",
            Role::Sysadmin => "sysadmin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Role::Resident => "居民",
            Role::Volunteer => "志愿者",
            Role::BuildingHead => "楼栋长",
            Role::GridWorker => "网格员",
            Role::GridHead => "网格长",
            Role::CommunityAdmin => "社区工作者",
            Role::StreetAdmin => "街道工作人员",
            Role::DepartmentHandler => "部门承办人",
            Role::Police => "社区民警",
            Role::Leader => "领导",
            Role::Sysadmin => "系统管理员",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Role::Resident => "Resident",
            Role::Volunteer => "Volunteer",
            Role::BuildingHead => "Building head",
            Role::GridWorker => "Grid worker",
            Role::GridHead => "Grid head",
            Role::CommunityAdmin => "Community staff",
            Role::StreetAdmin => "Street office",
            Role::DepartmentHandler => "Department handler",
            Role::Police => "Community police",
            Role::Leader => "Leader",
            Role::Sysadmin => "System administrator",
        }
    }

    /// Staff work inside the region tree; residents and volunteers are the public.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Resident | Role::Volunteer)
    }

    /// May create staff accounts and assign posts inside its own subtree.
    pub fn manages_staff(self) -> bool {
        matches!(
            self,
            Role::CommunityAdmin | Role::StreetAdmin | Role::Sysadmin
        )
    }

    /// May edit the region tree and import grid polygons inside its own subtree.
    pub fn manages_regions(self) -> bool {
        matches!(self, Role::StreetAdmin | Role::Sysadmin)
    }

    /// Grid workers and residents use the phone layout; desk roles the wide one.
    pub fn prefers_phone_layout(self) -> bool {
        matches!(
            self,
            Role::Resident
                | Role::Volunteer
                | Role::GridWorker
                | Role::BuildingHead
                | Role::GridHead
        )
    }
}

/// A post (岗位) binds a staff account to a node: 网格长/网格员 to a grid, 楼栋长 to a building,
/// 社区民警 to a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostKind {
    GridHead,
    GridWorker,
    BuildingHead,
    Police,
}

impl PostKind {
    pub const ALL: [PostKind; 4] = [
        PostKind::GridHead,
        PostKind::GridWorker,
        PostKind::BuildingHead,
        PostKind::Police,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::GridHead => "grid_head",
            PostKind::GridWorker => "grid_worker",
            PostKind::BuildingHead => "building_head",
            PostKind::Police => "police",
        }
    }

    pub fn parse(s: &str) -> Option<PostKind> {
        PostKind::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            PostKind::GridHead => "网格长",
            PostKind::GridWorker => "网格员",
            PostKind::BuildingHead => "楼栋长",
            PostKind::Police => "社区民警",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            PostKind::GridHead => "Grid head",
            PostKind::GridWorker => "Grid worker",
            PostKind::BuildingHead => "Building head",
            PostKind::Police => "Community police",
        }
    }

    /// The region level a post of this kind is held at.
    pub fn level(self) -> crate::regions::RegionLevel {
        use crate::regions::RegionLevel;
        match self {
            PostKind::GridHead | PostKind::GridWorker => RegionLevel::Grid,
            PostKind::BuildingHead => RegionLevel::Building,
            PostKind::Police => RegionLevel::Community,
        }
    }
}
